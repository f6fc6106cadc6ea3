"""What containers wrote, read back through their conmon log."""

import hashlib
import re
import threading
import time

import pytest

from runtime.containers import layout, lifecycle
from runtime.containers.logformat import parse_time
from runtime.containers.logs import follow_output, read_log_chunks
from runtime.errors import InvalidInput

pytestmark = pytest.mark.privileged

STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def output(paths, cid, **options) -> tuple[bytes, bytes]:
    out, err = [], []
    for fd, data in read_log_chunks(paths, cid, **options):
        (out if fd == 1 else err).append(data)
    return b"".join(out), b"".join(err)


def digests(chunks) -> dict[int, tuple[int, str]]:
    """(length, sha256) of each stream, without holding it all."""
    hashes = {1: hashlib.sha256(), 2: hashlib.sha256()}
    sizes = {1: 0, 2: 0}
    for fd, data in chunks:
        hashes[fd].update(data)
        sizes[fd] += len(data)
    return {fd: (sizes[fd], hashes[fd].hexdigest()) for fd in (1, 2)}


def digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def repeated(line: str, size: int) -> bytes:
    """What `yes <line> | head -c <size>` writes."""
    unit = (line + "\n").encode()
    return (unit * (size // len(unit) + 1))[:size]


def seq(first: int, last: int) -> bytes:
    return "".join(f"{n}\n" for n in range(first, last + 1)).encode()


def exited(paths, cid, timeout: float = 60) -> None:
    assert lifecycle.wait(paths, cid, timeout=timeout).status == "exited"


def test_a_hundred_megabytes_come_back_byte_for_byte(runtime_paths, containers):
    line = "dockyard log line " * 3
    cid = containers("sh", "-c", f"yes '{line}' | head -c 100000000", start=True)
    exited(runtime_paths, cid)
    got = digests(read_log_chunks(runtime_paths, cid))
    assert got == {1: digest(repeated(line, 100_000_000)), 2: digest(b"")}


def test_stdout_and_stderr_are_kept_apart(runtime_paths, containers):
    cid = containers("sh", "-c", "seq 1 100000; seq 1 50000 >&2; echo end", start=True)
    exited(runtime_paths, cid)
    assert output(runtime_paths, cid) == (seq(1, 100000) + b"end\n", seq(1, 50000))
    assert output(runtime_paths, cid, stdout=False) == (b"", seq(1, 50000))
    assert output(runtime_paths, cid, stderr=False) == (seq(1, 100000) + b"end\n", b"")


def test_lines_longer_than_conmons_buffer_and_unfinished_lines(runtime_paths, containers):
    script = "head -c 20000 /dev/zero | tr '\\0' a; echo; printf no-newline"
    cid = containers("sh", "-c", script, start=True)
    exited(runtime_paths, cid)
    assert output(runtime_paths, cid) == (b"a" * 20000 + b"\nno-newline", b"")
    assert output(runtime_paths, cid, tail=1) == (b"no-newline", b"")
    assert output(runtime_paths, cid, tail=2) == (b"a" * 20000 + b"\nno-newline", b"")


def test_timestamps_start_every_line_in_utc(runtime_paths, containers):
    began = time.time()
    script = "echo one; echo two >&2; head -c 20000 /dev/zero | tr '\\0' a; echo; echo three"
    cid = containers("sh", "-c", script, start=True)
    exited(runtime_paths, cid)
    out, err = output(runtime_paths, cid, timestamps=True)
    lines = out.splitlines(keepends=True) + err.splitlines(keepends=True)
    assert [STAMP.sub(b"", line, count=1) for line in lines] == [
        b"one\n",
        b"a" * 20000 + b"\n",
        b"three\n",
        b"two\n",
    ]
    times = [parse_time(STAMP.match(line).group().decode().strip()) for line in lines]
    assert all(began - 1 < t < time.time() for t in times)
    assert all(len(STAMP.findall(line)) == 1 for line in lines)


def test_tail_since_and_until(runtime_paths, containers):
    cid = containers("sh", "-c", "echo a; echo b; sleep 1.2; echo c; echo d >&2", start=True)
    exited(runtime_paths, cid)
    assert output(runtime_paths, cid, tail=2) == (b"c\n", b"d\n")
    assert output(runtime_paths, cid, tail=0) == (b"", b"")
    out, _ = output(runtime_paths, cid, timestamps=True)
    cut = parse_time(out.splitlines()[2][:30].decode())
    assert output(runtime_paths, cid, since=cut) == (b"c\n", b"d\n")
    assert output(runtime_paths, cid, until=cut - 0.5) == (b"a\nb\n", b"")
    assert output(runtime_paths, cid, since=cut - 0.5, tail=5) == (b"c\n", b"d\n")


def test_follow_reads_to_the_last_line_and_ends_at_the_exit(runtime_paths, containers):
    script = "seq 1 200000; sleep 0.5; seq 200001 300000 >&2; sleep 0.5; echo last"
    cid = containers("sh", "-c", script, start=True)
    began = time.monotonic()
    got = output(runtime_paths, cid, follow=True)
    assert got == (seq(1, 200000) + b"last\n", seq(200001, 300000))
    assert lifecycle.refresh(runtime_paths, cid).status == "exited"
    assert time.monotonic() - began < 10


def test_follow_ends_when_asked(runtime_paths, containers):
    cid = containers("sh", "-c", "echo first; sleep 300", start=True)
    stop = threading.Event()
    got = []
    began = time.monotonic()
    for _, data in read_log_chunks(runtime_paths, cid, follow=True, stop=stop):
        got.append(data)
        stop.set()
    assert got == [b"first\n"]
    assert time.monotonic() - began < 5


def test_follow_output_waits_for_the_start(runtime_paths, containers):
    cid = containers("sh", "-c", "echo hello; echo world >&2")
    entries = []
    reader = threading.Thread(
        target=lambda: entries.extend(follow_output(runtime_paths, cid, 0)), daemon=True
    )
    reader.start()
    lifecycle.start(runtime_paths, cid)
    reader.join(10)
    assert not reader.is_alive()
    assert [(e.stream, e.data) for e in entries] == [("stdout", b"hello\n"), ("stderr", b"world\n")]


def test_two_hundred_megabytes_without_a_limit_are_all_kept(runtime_paths, containers):
    line = "x" * 999
    size = 200 * 1024 * 1024
    cid = containers("sh", "-c", f"yes {line} | head -c {size}", start=True)
    exited(runtime_paths, cid, timeout=120)
    assert sorted(p.name for p in layout.bundle(runtime_paths, cid).glob("container.log*")) == [
        "container.log"
    ]
    got = digests(read_log_chunks(runtime_paths, cid))
    assert got == {1: digest(repeated(line, size)), 2: digest(b"")}


def test_a_container_with_the_none_driver_runs_and_keeps_no_log(runtime_paths, containers):
    cid = containers("echo", "hi", start=True, log_driver="none")
    assert lifecycle.wait(runtime_paths, cid, timeout=10).exit_code == 0
    assert not list(runtime_paths.container(cid).glob("container.log*"))
    with pytest.raises(InvalidInput):
        read_log_chunks(runtime_paths, cid)
