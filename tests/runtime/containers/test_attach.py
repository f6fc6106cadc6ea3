import threading

import pytest

from runtime.containers import lifecycle
from runtime.containers.attach import close_stdin, open_stdin, write_stdin
from runtime.containers.logs import follow_output, log_offset

pytestmark = pytest.mark.privileged


def test_stdin_round_trip_through_cat(runtime_paths, containers):
    cid = containers("cat", open_stdin=True, stdin_once=True)
    offset = log_offset(runtime_paths, cid)
    out = []
    reader = threading.Thread(
        target=lambda: out.extend(e.data for e in follow_output(runtime_paths, cid, offset))
    )
    reader.start()
    lifecycle.start(runtime_paths, cid)
    sock = open_stdin(runtime_paths, cid, timeout=5)
    big = b"x" * 100_000 + b"\n"
    write_stdin(sock, b"hello cat\n")
    write_stdin(sock, big)
    close_stdin(sock)
    state = lifecycle.wait(runtime_paths, cid, timeout=10)
    reader.join(10)
    sock.close()
    assert state.exit_code == 0
    assert b"".join(out) == b"hello cat\n" + big


def test_attach_before_start_waits_for_the_socket(runtime_paths, containers):
    cid = containers("sh", "-c", "read line; echo got:$line", open_stdin=True, stdin_once=True)
    result = {}

    def attach():
        sock = open_stdin(runtime_paths, cid, timeout=10)
        write_stdin(sock, b"early\n")
        close_stdin(sock)
        result["sock"] = sock

    t = threading.Thread(target=attach)
    t.start()
    lifecycle.start(runtime_paths, cid)
    t.join(10)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    result["sock"].close()
    log = lifecycle.log_path(runtime_paths, cid).read_bytes()
    assert b"got:early" in log


def test_tty_container_echoes_input(runtime_paths, containers):
    cid = containers("sh", "-c", "read line; echo got:$line", tty=True, open_stdin=True)
    lifecycle.start(runtime_paths, cid)
    sock = open_stdin(runtime_paths, cid, timeout=5)
    write_stdin(sock, b"typed\n")
    state = lifecycle.wait(runtime_paths, cid, timeout=10)
    sock.close()
    assert state.exit_code == 0
    assert b"got:typed" in lifecycle.log_path(runtime_paths, cid).read_bytes()
