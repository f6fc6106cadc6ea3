"""The real docker CLI against the engine socket, as a user types it."""

import os
import pty
import select
import time
import uuid

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_version_and_info_name_the_server(platform):
    out = platform.docker("version")
    assert out.returncode == 0, out.stderr
    assert "Server" in out.stdout and "API version" in out.stdout
    info = platform.docker("info")
    assert "Containers:" in info.stdout and "Images:" in info.stdout
    assert "Default Runtime: crun" in info.stdout


def test_run_prints_the_command_output_and_returns_its_exit_code(platform):
    out = platform.docker("run", "--rm", "busybox", "echo", "hello word")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello word\n"
    failed = platform.docker("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3")
    assert failed.returncode == 3
    assert "oops" in failed.stderr


def test_a_removed_container_still_answers_its_exit_code(platform):
    # Quick failures with --rm are gone before the wait reads the row again.
    codes = [platform.docker("run", "--rm", "busybox", "false").returncode for _ in range(8)]
    assert codes == [1] * 8


def test_run_rm_leaves_no_container(platform):
    n = name()
    assert platform.docker("run", "--rm", "--name", n, "busybox", "true").returncode == 0
    assert n not in platform.docker("ps", "-a").stdout


def test_background_container_lifecycle(platform):
    n = name()
    started = platform.docker("run", "-d", "--name", n, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    try:
        assert n in platform.docker("ps").stdout
        state = lambda: platform.docker("inspect", "-f", "{{.State.Running}}", n).stdout.strip()  # noqa: E731
        assert platform.docker("stop", "-t", "1", n).returncode == 0
        assert state() == "false"
        assert platform.docker("start", n).returncode == 0
        assert state() == "true"
        before = platform.docker("inspect", "-f", "{{.State.StartedAt}}", n).stdout
        time.sleep(1.1)
        assert platform.docker("restart", "-t", "1", n).returncode == 0
        assert platform.docker("inspect", "-f", "{{.State.StartedAt}}", n).stdout != before
        assert platform.docker("kill", n).returncode == 0
        final = platform.docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", n)
        assert final.stdout.strip() == "false 137"
    finally:
        platform.docker("rm", "-f", n)
    assert n not in platform.docker("ps", "-a").stdout


def test_ps_all_and_latest(platform):
    n = name()
    platform.docker("run", "--name", n, "busybox", "true")
    try:
        everything = platform.docker("ps", "-a").stdout
        assert n in everything and "Exited (0)" in everything
        latest = platform.docker("ps", "-l").stdout.strip().splitlines()
        assert len(latest) == 2 and n in latest[1]
    finally:
        platform.docker("rm", n)


def test_logs_keep_stdout_and_stderr_apart(platform):
    n = name()
    platform.docker(
        "run", "-d", "--name", n, "busybox", "sh", "-c", "echo out; echo err >&2; sleep 60"
    )
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            logs = platform.docker("logs", n)
            if "out" in logs.stdout and "err" in logs.stderr:
                break
            time.sleep(0.2)
        assert logs.stdout == "out\n" and logs.stderr == "err\n"
        tail = platform.docker("logs", "--tail", "1", "-t", n)
        assert tail.stdout.count("\n") + tail.stderr.count("\n") == 1
    finally:
        platform.docker("rm", "-f", n)


def test_exec_top_diff_and_cp(platform, tmp_path):
    n = name()
    platform.docker("run", "-d", "--name", n, "busybox", "sleep", "300")
    try:
        out = platform.docker("exec", n, "sh", "-c", "echo inside; touch /tmp/added; mkdir /newdir")
        assert out.stdout == "inside\n"
        assert platform.docker("exec", n, "false").returncode == 1
        top = platform.docker("top", n)
        assert "PID" in top.stdout and "sleep" in top.stdout
        diff = platform.docker("diff", n).stdout
        assert "A /tmp/added" in diff and "A /newdir" in diff
        assert platform.docker("cp", f"{n}:/etc/passwd", str(tmp_path / "passwd")).returncode == 0
        assert "root:" in (tmp_path / "passwd").read_text()
        (tmp_path / "in.txt").write_text("copied-in\n")
        put = platform.docker("cp", str(tmp_path / "in.txt"), f"{n}:/tmp/in.txt")
        assert put.returncode == 0, put.stderr
        assert platform.docker("exec", n, "cat", "/tmp/in.txt").stdout == "copied-in\n"
    finally:
        platform.docker("rm", "-f", n)


def test_commit_keeps_the_change(platform):
    n, image = name(), f"committed-{uuid.uuid4().hex[:6]}"
    platform.docker("run", "--name", n, "busybox", "sh", "-c", "echo committed-ok > /seed.txt")
    try:
        assert platform.docker("commit", n, image).returncode == 0
        out = platform.docker("run", "--rm", image, "cat", "/seed.txt")
        assert out.stdout == "committed-ok\n"
        history = platform.docker("history", image).stdout.strip().splitlines()
        assert len(history) >= 2
    finally:
        platform.docker("rm", n)
        platform.docker("rmi", image)
    assert image not in platform.docker("images").stdout


def test_attach_talks_to_the_running_container(platform):
    n = name()
    platform.docker("run", "-d", "-i", "--name", n, "busybox", "sh")
    try:
        out = platform.docker("attach", n, input="echo attached-ok\nexit\n", timeout=30)
        assert "attached-ok" in out.stdout
    finally:
        platform.docker("rm", "-f", n)


def test_interactive_terminal(platform):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["DOCKER_HOST"] = platform.docker_host
        os.execvp("docker", ["docker", "run", "-it", "--rm", "busybox", "sh"])
    seen = b""
    try:
        deadline = time.time() + 30
        os.write(fd, b"echo $((6*7))answer; exit\r")
        while time.time() < deadline and b"42answer" not in seen:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
    finally:
        os.waitpid(pid, 0)
    assert b"42answer" in seen


def test_errors_users_cause_are_clear(platform):
    missing = platform.docker("run", "--rm", "no-such-image-here", "true")
    assert missing.returncode != 0
    assert "no-such-image-here" in missing.stderr
    n = name()
    platform.docker("create", "--name", n, "busybox", "true")
    try:
        clash = platform.docker("create", "--name", n, "busybox", "true")
        assert "is already in use" in clash.stderr
        assert "No such container" in platform.docker("start", "nope-" + n).stderr
    finally:
        platform.docker("rm", n)
    runc = platform.docker("run", "--rm", "--runtime", "runc", "busybox", "true")
    assert runc.returncode != 0
    assert "unknown or invalid runtime name: runc" in runc.stderr


def test_image_rm_refuses_an_image_in_use(platform):
    n = name()
    platform.docker("create", "--name", n, "busybox", "true")
    try:
        image_id = platform.docker("inspect", "-f", "{{.Image}}", n).stdout.strip()
        refused = platform.docker("rmi", image_id)
        assert refused.returncode != 0 and "being used" in refused.stderr
    finally:
        platform.docker("rm", n)


def test_seccomp_confines_containers_unless_asked_not_to(platform):
    confined = platform.docker("run", "--rm", "busybox", "unshare", "-U", "true")
    assert confined.returncode != 0
    assert "Operation not permitted" in confined.stderr
    loose = ["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U"]
    assert platform.docker(*loose, "true").returncode == 0
    info = platform.docker("info", "--format", "{{json .SecurityOptions}}")
    assert "name=seccomp,profile=builtin" in info.stdout
