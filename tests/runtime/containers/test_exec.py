import os

import pytest

from runtime.containers.exec import (
    ExecSpec,
    looks_like_crun_failure,
    read_all,
    start_exec,
    start_failure,
)
from runtime.errors import Conflict


@pytest.mark.privileged
def test_exec_with_pipes(runtime_paths, containers):
    cid = containers("sleep", "300", start=True, env=["FROM_CONTAINER=1"])
    proc = start_exec(
        runtime_paths,
        cid,
        ExecSpec(
            args=["sh", "-c", "cat; echo err >&2; echo $FROM_CONTAINER$EXTRA; exit 7"],
            env=["EXTRA=2"],
        ),
    )
    os.write(proc.stdin, b"from stdin\n")
    proc.close_stdin()
    out = read_all(proc.stdout)
    err = read_all(proc.stderr)
    assert proc.wait(10) == 7
    proc.close()
    assert out == b"from stdin\n12\n"
    assert err == b"err\n"


@pytest.mark.privileged
def test_exec_runs_inside_the_container(runtime_paths, containers):
    cid = containers("sleep", "300", start=True, hostname="inside")
    proc = start_exec(
        runtime_paths, cid, ExecSpec(args=["sh", "-c", "hostname; id -u"], user="app")
    )
    out = read_all(proc.stdout)
    assert proc.wait(10) == 0
    proc.close()
    assert out == b"inside\n1234\n"


@pytest.mark.privileged
def test_exec_with_tty(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    proc = start_exec(
        runtime_paths, cid, ExecSpec(args=["sh", "-c", "tty; stty size; exit 3"], tty=True)
    )
    proc.resize(33, 111)
    out = read_all(proc.stdout)
    assert proc.wait(10) == 3
    proc.close()
    assert b"/dev/pts/" in out


@pytest.mark.privileged
def test_exec_in_stopped_container_is_a_conflict(runtime_paths, containers):
    cid = containers("true")
    with pytest.raises(Conflict):
        start_exec(runtime_paths, cid, ExecSpec(args=["true"]))


@pytest.mark.privileged
@pytest.mark.parametrize(
    ("command", "code", "words"),
    [
        ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
        ("/etc", 126, 'exec: "/etc": permission denied'),
        ("nosuch", 127, 'exec: "nosuch": executable file not found in $PATH'),
        ("/no/such", 127, 'exec: "/no/such": stat /no/such: no such file or directory'),
    ],
)
@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_a_process_that_cannot_start_gets_dockers_code(
    runtime_paths, containers, command, code, words, tty
):
    cid = containers("sleep", "300", start=True)
    proc = start_exec(runtime_paths, cid, ExecSpec(args=[command], tty=tty))
    first = read_all(proc.stdout if tty else proc.stderr)
    assert proc.wait(10) == code
    proc.close()
    assert words in proc.failure.message
    # What crun wrote is recognised, so that Docker's words can take its place.
    assert looks_like_crun_failure(first), first


@pytest.mark.privileged
def test_a_process_exiting_255_itself_is_no_start_failure(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    script = "echo 'open executable: Permission denied' >&2; exit 255"
    proc = start_exec(runtime_paths, cid, ExecSpec(args=["sh", "-c", script]))
    read_all(proc.stderr)
    assert proc.wait(10) == 255
    proc.close()
    assert proc.failure is None


def test_dockers_words_for_crun_failures():
    denied = start_failure("/etc/passwd", "open executable: Permission denied")
    assert (denied.exit_code, denied.message) == (
        126,
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "/etc/passwd": permission denied: unknown',
    )
    missing = start_failure(
        "x", "executable file `x` not found in $PATH: No such file or directory"
    )
    assert missing.exit_code == 127
    assert 'exec: "x": executable file not found in $PATH: unknown' in missing.message
    odd = start_failure("x", "chdir to `/nope`: No such file or directory")
    assert odd.exit_code == 127 and "chdir to `/nope`" in odd.message


@pytest.mark.parametrize(
    ("output", "crun"),
    [
        (b"open executable: Permission denied\n", True),
        (
            b"\x1b[1;31m2026-01-01T00:00:00.123456Z: open executable: Permission denied\x1b[0m\r\n",
            True,
        ),
        (b"hello\n", False),
        (b"open executable: Permission denied\nmore\n", False),
        (b"/ # ", False),
    ],
)
def test_what_may_be_crun_failing_is_told_apart(output, crun):
    assert looks_like_crun_failure(output) is crun
