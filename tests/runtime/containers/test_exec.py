import os

import pytest

from runtime.containers.exec import ExecSpec, read_all, start_exec
from runtime.errors import Conflict

pytestmark = pytest.mark.privileged


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


def test_exec_runs_inside_the_container(runtime_paths, containers):
    cid = containers("sleep", "300", start=True, hostname="inside")
    proc = start_exec(
        runtime_paths, cid, ExecSpec(args=["sh", "-c", "hostname; id -u"], user="app")
    )
    out = read_all(proc.stdout)
    assert proc.wait(10) == 0
    proc.close()
    assert out == b"inside\n1234\n"


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


def test_exec_in_stopped_container_is_a_conflict(runtime_paths, containers):
    cid = containers("true")
    with pytest.raises(Conflict):
        start_exec(runtime_paths, cid, ExecSpec(args=["true"]))
