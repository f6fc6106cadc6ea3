"""Nothing a container writes is lost: sha256 of what it wrote against what the client got."""

import hashlib
import os
import subprocess
import threading
import time
import uuid

import docker
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

MIB = 1024 * 1024
SIZE = 100 * MIB
PATTERN = b"0123456789abcdef\n"
# Writes SIZE bytes of PATTERN lines; the same generator without newlines for a tty, whose
# line discipline would turn each "\n" into "\r\n".
LINES = f"yes 0123456789abcdef | head -c {SIZE}"
NO_NEWLINES = f"yes 0123456789abcdef | tr -d '\\n' | head -c {SIZE}"


def expected(pattern: bytes, size: int = SIZE) -> str:
    whole = pattern * (size // len(pattern) + 1)
    return hashlib.sha256(whole[:size]).hexdigest()


def name() -> str:
    return f"s{uuid.uuid4().hex[:8]}"


def docker_hashed(platform, *args: str, stdin: bytes | None = None, timeout: float = 120):
    """Run the docker CLI; (exit code, byte count and sha256 of its stdout, stderr)."""
    env = {**os.environ, "DOCKER_HOST": platform.docker_host}
    env["DOCKER_CONFIG"] = str(platform.root / "docker-config")
    proc = subprocess.Popen(
        ["docker", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    if stdin is not None:

        def feed() -> None:
            proc.stdin.write(stdin)
            proc.stdin.close()

        threading.Thread(target=feed, daemon=True).start()
    digest, count = hashlib.sha256(), 0
    deadline = time.monotonic() + timeout
    while chunk := proc.stdout.read(1 << 20):
        digest.update(chunk)
        count += len(chunk)
        assert time.monotonic() < deadline, f"docker {args[0]} took longer than {timeout} s"
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return code, count, digest.hexdigest(), proc.stderr.read().decode(errors="replace")


def test_attached_run_delivers_100_mib_exactly(platform):
    code, count, digest, err = docker_hashed(platform, "run", "--rm", "busybox", "sh", "-c", LINES)
    assert (code, count, err) == (0, SIZE, "")
    assert digest == expected(PATTERN)


def test_attached_run_with_a_tty_delivers_100_mib_exactly(platform):
    code, count, digest, _ = docker_hashed(
        platform, "run", "-t", "--rm", "busybox", "sh", "-c", NO_NEWLINES
    )
    assert (code, count) == (0, SIZE)
    assert digest == expected(PATTERN.rstrip())


def test_stdin_piped_through_cat_comes_back_exactly(platform):
    data = os.urandom(SIZE)
    code, count, digest, err = docker_hashed(
        platform, "run", "-i", "--rm", "busybox", "cat", stdin=data
    )
    assert (code, count, err) == (0, SIZE, "")
    assert digest == hashlib.sha256(data).hexdigest()


def test_exec_output_and_stdin_are_exact(platform):
    n = name()
    assert platform.docker("run", "-d", "--name", n, "busybox", "sleep", "600").returncode == 0
    try:
        code, count, digest, _ = docker_hashed(platform, "exec", n, "sh", "-c", LINES)
        assert (code, count, digest) == (0, SIZE, expected(PATTERN))
        code, count, digest, _ = docker_hashed(platform, "exec", "-t", n, "sh", "-c", NO_NEWLINES)
        assert (code, count, digest) == (0, SIZE, expected(PATTERN.rstrip()))
        data = os.urandom(20 * MIB)
        code, count, digest, _ = docker_hashed(platform, "exec", "-i", n, "cat", stdin=data)
        assert (code, count, digest) == (0, len(data), hashlib.sha256(data).hexdigest())
        assert docker_hashed(platform, "exec", n, "sh", "-c", "exit 7")[0] == 7
    finally:
        platform.docker("rm", "-f", n)


def test_logs_after_exit_hold_every_byte(platform):
    n = name()
    assert platform.docker("run", "--name", n, "busybox", "sh", "-c", LINES).returncode == 0
    try:
        code, count, digest, _ = docker_hashed(platform, "logs", n)
        assert (code, count, digest) == (0, SIZE, expected(PATTERN))
        # 100 MiB is no whole number of lines: the last one is unfinished, as it was written.
        tail = platform.docker("logs", "--tail", "2", n)
        assert tail.stdout == "0123456789abcdef\n01"
    finally:
        platform.docker("rm", "-f", n)


def test_logs_follow_shows_every_byte_once_up_to_the_last_line(platform):
    n = name()
    script = f"sleep 1; {LINES}; echo; echo the-end"
    assert platform.docker("run", "-d", "--name", n, "busybox", "sh", "-c", script).returncode == 0
    try:
        code, count, digest, _ = docker_hashed(platform, "logs", "-f", n)
        body = (PATTERN * (SIZE // len(PATTERN) + 1))[:SIZE] + b"\nthe-end\n"
        assert (code, count) == (0, len(body))
        assert digest == hashlib.sha256(body).hexdigest()
    finally:
        platform.docker("rm", "-f", n)


def test_rotated_logs_keep_the_newest_lines_in_order(platform):
    n = name()
    options = ["--log-opt", "max-size=1m", "--log-opt", "max-file=3"]
    script = "for i in $(seq 1 6); do seq $((i*100000-99999)) $((i*100000)); sleep 0.6; done"
    done = platform.docker("run", "--name", n, *options, "busybox", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    try:
        lines = [int(x) for x in platform.docker("logs", n).stdout.split()]
        # Older lines went with the files rotated away; what is kept runs on to the last line.
        assert lines[-1] == 600000 and len(lines) < 600000
        assert lines == list(range(lines[0], 600001))
        config = platform.docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", n).stdout
        assert '"max-size":"1m"' in config and '"max-file":"3"' in config
    finally:
        platform.docker("rm", "-f", n)


def test_a_burst_keeps_no_more_log_than_max_size_and_max_file_allow(platform):
    # Written in well under the agent's half second between rotation checks, and exited.
    n = name()
    options = ["--log-opt", "max-size=1m", "--log-opt", "max-file=3"]
    done = platform.docker("run", "--name", n, *options, "busybox", "seq", "1", "1000000")
    assert done.returncode == 0, done.stderr
    try:
        lines = [int(x) for x in platform.docker("logs", n).stdout.split()]
        # 3 MB of records, about 60 000 lines of seq: the newest, in order, to the last.
        assert lines == list(range(lines[0], 1000001))
        assert 40000 < len(lines) < 70000
    finally:
        platform.docker("rm", "-f", n)


def test_docker_py_attach_and_exec_are_byte_exact(platform):
    client = docker.DockerClient(base_url=platform.docker_host, version="1.43")
    size = 20 * MIB
    script = f"yes 0123456789abcdef | head -c {size}; echo done >&2"
    c = client.containers.create("busybox", ["sh", "-c", f"sleep 1; {script}; sleep 600"])
    try:
        stream = c.attach(stream=True, stdout=True, stderr=False, logs=False)
        c.start()
        digest, count = hashlib.sha256(), 0
        for chunk in stream:
            digest.update(chunk)
            count += len(chunk)
            if count >= size:
                break
        assert (count, digest.hexdigest()) == (size, expected(PATTERN, size))
        result = c.exec_run(["sh", "-c", script], demux=True)
        out, err = result.output
        assert result.exit_code == 0
        assert hashlib.sha256(out).hexdigest() == expected(PATTERN, size)
        assert err == b"done\n"
    finally:
        c.remove(force=True)
        client.close()


def test_a_dropped_exec_client_ends_its_process(platform):
    n = name()
    assert platform.docker("run", "-d", "--name", n, "busybox", "sleep", "600").returncode == 0
    env = {**os.environ, "DOCKER_HOST": platform.docker_host}
    try:
        client = subprocess.Popen(["docker", "exec", n, "sleep", "4242"], env=env)
        wait_until(lambda: "4242" in platform.docker("top", n).stdout)
        client.kill()
        client.wait()
        wait_until(lambda: "4242" not in platform.docker("top", n).stdout)
    finally:
        platform.docker("rm", "-f", n)


def test_a_detached_exec_that_writes_a_lot_runs_to_its_end(platform):
    n = name()
    assert platform.docker("run", "-d", "--name", n, "busybox", "sleep", "600").returncode == 0
    try:
        for tty in ([], ["-t"]):
            script = "yes | head -c 10485760; touch /done"
            assert platform.docker("exec", "-d", *tty, n, "sh", "-c", script).returncode == 0
            wait_until(lambda: platform.docker("exec", n, "test", "-e", "/done").returncode == 0)
            platform.docker("exec", n, "rm", "/done")
    finally:
        platform.docker("rm", "-f", n)


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.1)
