"""Attach through conmon's socket: every byte, in order, whoever attached before the start."""

import hashlib
import os
import socket
import threading
import time

import pytest

from runtime.containers import attach, claims, layout, lifecycle
from runtime.containers.state import Status, load_state

pytestmark = pytest.mark.privileged

MIB = 1024 * 1024


def read_all(sock: socket.socket) -> dict[int, bytearray]:
    """Every packet until conmon closes the socket: {stream: bytes} per Docker stream number."""
    out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    while packet := sock.recv(attach.OUTPUT_PACKET):
        out[attach.STREAMS[packet[0]]] += packet[1:]
    return out


def attach_before_start(runtime_paths, cid: str) -> socket.socket:
    """Claim the next start, start in another thread, connect: as the agent does."""
    claim = claims.register(runtime_paths, cid)
    starter = threading.Thread(target=lifecycle.start, args=(runtime_paths, cid))
    starter.start()
    sock = attach.connect(runtime_paths, cid, claim, threading.Event())
    starter.join(10)
    assert sock is not None
    return sock


def test_an_attach_made_before_the_start_gets_every_byte(runtime_paths, containers):
    script = "yes 0123456789abcdef | head -c 20971520; echo oops >&2"
    cid = containers("sh", "-c", script)
    sock = attach_before_start(runtime_paths, cid)
    out = read_all(sock)
    sock.close()
    expected = (b"0123456789abcdef\n" * (20 * MIB // 17 + 1))[: 20 * MIB]
    assert hashlib.sha256(out[1]).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert bytes(out[2]) == b"oops\n"


def test_a_start_waits_for_its_claimants_and_not_for_dead_ones(runtime_paths, containers):
    cid = containers("echo", "hi")
    claim = claims.register(runtime_paths, cid)
    dead = claims.claims_dir(runtime_paths, cid) / f"{2**22 + 7}.stale"
    dead.touch()
    began = time.monotonic()
    starter = threading.Thread(target=lifecycle.start, args=(runtime_paths, cid))
    starter.start()
    # The start holds the container until the claim goes.
    time.sleep(0.3)
    assert load_state(runtime_paths, cid).status == Status.created
    sock = attach.connect(runtime_paths, cid, claim, threading.Event())
    starter.join(10)
    assert read_all(sock)[1] == b"hi\n"
    assert time.monotonic() - began < lifecycle.ATTACH_WAIT
    assert not dead.exists()


def test_a_slow_reader_slows_the_container_and_loses_nothing(runtime_paths, containers):
    cid = containers("sh", "-c", "seq 1 300000")
    sock = attach_before_start(runtime_paths, cid)
    # Not reading for a while: the container cannot finish its 2 MB, conmon waits for us.
    time.sleep(1.0)
    assert not layout.exit_file(runtime_paths, cid).exists()
    out = read_all(sock)[1]
    sock.close()
    assert out == b"".join(b"%d\n" % i for i in range(1, 300001))


def test_stdin_round_trip_through_cat(runtime_paths, containers):
    cid = containers("cat", open_stdin=True, stdin_once=True)
    sock = attach_before_start(runtime_paths, cid)
    data = os.urandom(3 * MIB)
    received = {}
    reader = threading.Thread(target=lambda: received.update(read_all(sock)))
    reader.start()
    attach.write_stdin(sock, data)
    attach.close_stdin(sock)
    reader.join(20)
    sock.close()
    assert lifecycle.wait(runtime_paths, cid, timeout=10).exit_code == 0
    assert bytes(received[1]) == data


def test_tty_container_echoes_input(runtime_paths, containers):
    cid = containers("sh", "-c", "read line; echo got:$line", tty=True, open_stdin=True)
    sock = attach_before_start(runtime_paths, cid)
    attach.write_stdin(sock, b"typed\n")
    out = read_all(sock)
    sock.close()
    assert lifecycle.wait(runtime_paths, cid, timeout=10).exit_code == 0
    assert b"got:typed" in out[1]


def test_a_connect_given_up_withdraws_its_claim(runtime_paths, containers):
    cid = containers("true")
    claim = claims.register(runtime_paths, cid)
    stop = threading.Event()
    stop.set()
    assert attach.connect(runtime_paths, cid, claim, stop) is None
    assert not claim.path.exists()
