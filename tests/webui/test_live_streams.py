"""Streams through the web process on a whole platform: the followed log, its download, and
terminals that end with their page."""

import hashlib
import json
import socket
import struct

import pytest

from .conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

LINE = b"dockyard log line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
LOG_BYTES = 30_000_000
LAST = b"the end, without a newline"


def state(web_platform, cid: str) -> str:
    return web_platform.docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()


def processes(web_platform, cid: str) -> str:
    return web_platform.docker("top", cid).stdout


def received_until(ws, wanted: bytes, timeout: float) -> bytes:
    """What a terminal socket sends until `wanted` shows up in it."""
    seen = b""

    def more() -> bool:
        nonlocal seen
        try:
            got = ws.recv(timeout=0.5)
        except TimeoutError:
            return False
        seen += got if isinstance(got, bytes) else got.encode()
        return wanted in seen

    wait_until(more, timeout, f"{wanted!r} in the terminal", every=0)
    return seen


def drop(ws) -> None:
    """Cut the connection the way a lost network or a killed browser does: no closing
    handshake, a reset instead."""
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.socket.close()


def test_the_download_has_every_byte_the_container_wrote(alice_web, web_platform):
    text = LINE.decode().rstrip("\n")
    cid = alice_web.run(f'sh -c \'yes "{text}" | head -c {LOG_BYTES}; printf "{LAST.decode()}"\'')
    wait_until(lambda: state(web_platform, cid) == "exited", 120, "the container to finish")

    expected = hashlib.sha256()
    whole, rest = divmod(LOG_BYTES, len(LINE))
    expected.update(LINE * whole + LINE[:rest] + LAST)
    got, size = hashlib.sha256(), 0
    with alice_web.get(f"/ui/containers/{cid}/log.txt", timeout=120) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Disposition"].startswith("attachment")
        while piece := answer.read(1024 * 1024):
            got.update(piece)
            size += len(piece)
    assert size == LOG_BYTES + len(LAST)
    assert got.hexdigest() == expected.hexdigest()
    web_platform.docker("rm", "-f", cid)


def test_the_followed_log_arrives_whole_in_order_and_in_few_messages(alice_web, web_platform):
    count = 200_000
    cid = alice_web.run(f"sh -c 'seq 1 {count} ; echo errors-too >&2'")
    messages, runs = 0, []
    with alice_web.socket(f"/ws/containers/{cid}/logs/", tail="all") as ws:
        # The socket closes once the container has exited and its log is read.
        for raw in ws:
            message = json.loads(raw)
            assert message["kind"] == "log", message
            messages += 1
            runs.extend(message["chunks"])
    stdout = "".join(text for fd, text in runs if fd == 1)
    assert stdout == "".join(f"{n}\n" for n in range(1, count + 1))
    # conmon reads the two pipes apart, so stderr's line may come before stdout's last.
    assert [text for fd, text in runs if fd == 2] == ["errors-too\n"]
    # 1.3 MB: a handful of 256 KiB batches and a few more for the 50 ms steps, where a
    # message per frame the node read would be hundreds.
    assert messages <= 40, messages
    web_platform.docker("rm", "-f", cid)


def leave(ws, how: str) -> None:
    if how == "closed":
        ws.close()
    else:
        drop(ws)


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_a_terminal_socket_that_goes_away_ends_its_shell(alice_web, web_platform, how):
    cid = alice_web.run("sleep 3600")
    with alice_web.socket(f"/ws/containers/{cid}/terminal/", mode="exec", cmd="/bin/sh") as ws:
        ws.send(b"sleep 4242\n")
        wait_until(lambda: "sleep 4242" in processes(web_platform, cid), 30, "sleep 4242 to run")
        leave(ws, how)
    wait_until(
        lambda: "sleep 4242" not in processes(web_platform, cid), 15, "the shell's sleep to end"
    )
    assert state(web_platform, cid) == "running"
    web_platform.docker("rm", "-f", cid)


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_leaving_an_attached_terminal_leaves_the_container_running(alice_web, web_platform, how):
    cid = alice_web.run("sh", tty=True)
    path = f"/ws/containers/{cid}/terminal/"
    with alice_web.socket(path, mode="attach") as first:
        first.send(b"echo hello-$((6*7))\n")
        received_until(first, b"hello-42", 30)
        leave(first, how)

    # The shell answers again, after waiting out longer than an exec gets after a hangup:
    # leaving did neither hang it up nor close its input.
    with alice_web.socket(path, mode="attach") as again:
        again.send(b"sleep 1.5; echo again-$((7*7))\n")
        received_until(again, b"again-49", 30)
    assert state(web_platform, cid) == "running"
    web_platform.docker("rm", "-f", cid)
