"""Detach keys: a client leaves an attach or `exec -it` and the container runs on.

The docker CLI runs in a pseudo-terminal and is typed at a key at a time, as a person types:
it watches its terminal for the keys itself and leaves. docker-py sends the keys over the
socket, where the platform watches for them (`detachKeys`, exec's `DetachKeys`).
"""

import contextlib
import fcntl
import os
import select
import socket
import struct
import subprocess
import termios
import time
import uuid

import docker
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

CTRL_P, CTRL_Q = b"\x10", b"\x11"
DEADLINE = 30.0


def pending(fd: int, request: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, request, b"\0\0\0\0"))[0]


def wait_until(condition, timeout: float = DEADLINE, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not come true in {timeout} s"
        time.sleep(0.05)


class Terminal:
    """A docker CLI command in a pseudo-terminal of its own."""

    def __init__(self, platform, *args: str) -> None:
        self.master, self._slave = os.openpty()
        fcntl.ioctl(self._slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "DOCKER_HOST": platform.docker_host}
        env["DOCKER_CONFIG"] = str(platform.root / "docker-config")
        self.proc = subprocess.Popen(
            ["docker", *args],
            stdin=self._slave,
            stdout=self._slave,
            stderr=self._slave,
            env=env,
            start_new_session=True,
        )
        self.seen = b""

    def wait_raw(self) -> None:
        """Until the CLI has put its terminal in raw mode, where it reads keys one by one."""
        wait_until(
            lambda: not termios.tcgetattr(self._slave)[3] & termios.ICANON,
            what="the terminal in raw mode",
        )

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def key(self, key: bytes) -> None:
        """One keystroke, read by the CLI before the next one is typed."""
        os.write(self.master, key)
        wait_until(
            lambda: pending(self._slave, termios.FIONREAD) == 0, what=f"the CLI reading {key!r}"
        )

    def _read(self, timeout: float) -> None:
        if select.select([self.master], [], [], timeout)[0]:
            with contextlib.suppress(OSError):
                self.seen += os.read(self.master, 65536)

    def expect(self, needle: bytes, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            assert time.monotonic() < deadline, f"no {needle!r} in {self.seen[-500:]!r}"
            self._read(0.1)

    def exit_code(self, timeout: float = DEADLINE) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"the CLI is still running: {self.seen[-500:]!r}"
            self._read(0.05)
        self._read(0)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def terminals(platform):
    opened: list[Terminal] = []

    def open_terminal(*args: str) -> Terminal:
        opened.append(Terminal(platform, *args))
        return opened[-1]

    yield open_terminal
    for terminal in opened:
        terminal.close()


@pytest.fixture
def name(platform):
    made = f"dt{uuid.uuid4().hex[:8]}"
    yield made
    platform.docker("rm", "-f", made)


def running(platform, name: str) -> bool:
    done = platform.docker("inspect", "--format", "{{.State.Running}}", name)
    return done.stdout.strip() == "true"


def shell_answers(terminal: Terminal, tag: str) -> None:
    """The shell behind the terminal reads a command and answers it."""
    terminal.wait_raw()
    terminal.type(f"echo $((6*7)){tag}\r".encode())
    terminal.expect(f"42{tag}".encode())


def test_run_it_detaches_on_ctrl_p_ctrl_q_and_the_container_runs_on(platform, terminals, name):
    run = terminals("run", "-it", "--name", name, "busybox", "sh")
    shell_answers(run, "first")
    run.key(CTRL_P)
    run.key(CTRL_Q)
    assert run.exit_code() == 0
    assert running(platform, name)
    # Its shell still reads the terminal: attach again, and leave again.
    again = terminals("attach", name)
    shell_answers(again, "again")
    again.key(CTRL_P)
    again.key(CTRL_Q)
    assert again.exit_code() == 1
    assert b"read escape sequence" in again.seen
    assert running(platform, name)
    assert platform.docker("exec", name, "true").returncode == 0


def test_detach_keys_flag_replaces_ctrl_p_ctrl_q(platform, terminals, name):
    run = terminals("run", "-it", "--detach-keys", "ctrl-x,x", "--name", name, "busybox", "sh")
    shell_answers(run, "first")
    run.key(CTRL_P)
    run.key(CTRL_Q)
    # Not the keys now: they reached the shell, which is still there.
    shell_answers(run, "still")
    run.key(b"\x18")
    run.key(b"x")
    assert run.exit_code() == 0
    assert running(platform, name)


def test_exec_it_detaches_and_the_container_runs_on(platform, terminals, name):
    started = platform.docker("run", "-d", "--name", name, "busybox", "sleep", "600")
    assert started.returncode == 0, started.stderr
    shell = terminals("exec", "-it", "--detach-keys", "ctrl-a,d", name, "sh")
    shell_answers(shell, "inexec")
    shell.key(b"\x01")
    shell.key(b"d")
    assert shell.exit_code() == 1
    assert b"read escape sequence" in shell.seen
    assert running(platform, name)


@pytest.fixture
def client(platform):
    c = docker.DockerClient(base_url=platform.docker_host, version="auto")
    yield c
    c.close()


def raw(sock) -> socket.socket:
    return getattr(sock, "_sock", sock)


def send_key(sock: socket.socket, key: bytes) -> None:
    """One keystroke, taken off the engine socket before the next one is sent."""
    sock.sendall(key)
    wait_until(lambda: pending(sock.fileno(), termios.TIOCOUTQ) == 0, what="the key being read")


def read_until(sock: socket.socket, needle: bytes | None) -> bytes:
    """Output until `needle` shows, or until the end of the stream if it is None."""
    seen = b""
    deadline = time.monotonic() + DEADLINE
    while needle is None or needle not in seen:
        assert time.monotonic() < deadline, f"waited for {needle!r}, got {seen[-300:]!r}"
        if select.select([sock], [], [], 0.1)[0]:
            chunk = sock.recv(65536)
            if not chunk:
                assert needle is None, f"the stream ended before {needle!r}: {seen[-300:]!r}"
                return seen
            seen += chunk
    return seen


def test_docker_py_attach_detaches_with_the_detach_keys_query(client, name):
    c = client.containers.run("busybox", "sh", name=name, tty=True, stdin_open=True, detach=True)
    params = {"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,x"}
    sock = raw(client.api.attach_socket(c.id, params=params))
    try:
        sock.sendall(b"echo $((6*7))py\n")
        read_until(sock, b"42py")
        send_key(sock, b"\x18")
        send_key(sock, b"x")
        read_until(sock, None)
    finally:
        sock.close()
    c.reload()
    assert c.status == "running"
    # stdin stays open for the next client.
    sock = raw(client.api.attach_socket(c.id, params=params))
    try:
        sock.sendall(b"echo $((6*7))back\n")
        read_until(sock, b"42back")
    finally:
        sock.close()


def test_docker_py_exec_detached_with_its_keys_runs_on(client, name):
    c = client.containers.run("busybox", ["sleep", "600"], name=name, detach=True)
    script = "sleep 1; touch /alive; sleep 600"
    exec_id = client.api.exec_create(
        c.id, ["sh", "-c", script], stdin=True, tty=True, detach_keys="ctrl-x,x"
    )["Id"]
    sock = raw(client.api.exec_start(exec_id, tty=True, socket=True))
    try:
        send_key(sock, b"\x18")
        send_key(sock, b"x")
        read_until(sock, None)
    finally:
        sock.close()
    # A hang-up would have ended it at once; detached, it goes on to its next step.
    wait_until(lambda: c.exec_run(["test", "-e", "/alive"]).exit_code == 0, what="/alive")
    assert client.api.exec_inspect(exec_id)["Running"] is True


def hijacked_exec_start(platform, exec_id: str, query: str) -> socket.socket:
    """POST /exec/{id}/start as the docker CLI sends it, on a connection that is then a stream."""
    body = b'{"Detach": false, "Tty": true}'
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(platform.socket))
    sock.sendall(
        f"POST /v1.47/exec/{exec_id}/start?{query} HTTP/1.1\r\nHost: docker\r\n"
        "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = read_until(sock, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_the_detach_keys_query_of_exec_start_wins(platform, client, name):
    c = client.containers.run("busybox", ["sleep", "600"], name=name, detach=True)
    script = "sleep 1; touch /alive; sleep 600"
    exec_id = client.api.exec_create(
        c.id, ["sh", "-c", script], stdin=True, tty=True, detach_keys="ctrl-x,x"
    )["Id"]
    sock = hijacked_exec_start(platform, exec_id, "detachKeys=ctrl-a,a")
    try:
        send_key(sock, b"\x18")
        send_key(sock, b"x")
        # The keys exec create named are the terminal's input now: it echoes them.
        read_until(sock, b"^Xx")
        send_key(sock, b"\x01")
        send_key(sock, b"a")
        read_until(sock, None)
    finally:
        sock.close()
    wait_until(lambda: c.exec_run(["test", "-e", "/alive"]).exit_code == 0, what="/alive")


def test_malformed_detach_keys_are_refused(client, name):
    c = client.containers.run("busybox", ["sleep", "600"], name=name, detach=True, tty=True)
    with pytest.raises(docker.errors.APIError) as refused:
        client.api.exec_create(c.id, ["sh"], tty=True, detach_keys="ctrl-1")
    assert refused.value.status_code == 400
    assert "Invalid escape keys (ctrl-1) provided" in refused.value.explanation


def test_malformed_attach_detach_keys_are_refused(client, name):
    c = client.containers.run("busybox", ["sleep", "600"], name=name, detach=True, tty=True)
    params = {"stdin": 1, "stream": 1, "detachKeys": "alt-x"}
    with pytest.raises(docker.errors.APIError) as refused:
        client.api.attach_socket(c.id, params=params)
    assert refused.value.status_code == 400
    assert "Invalid detach keys (alt-x) provided" in refused.value.explanation
