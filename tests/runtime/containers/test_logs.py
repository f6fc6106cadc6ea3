import threading
import time

import pytest

from runtime.containers import lifecycle
from runtime.containers.logs import follow_output, log_offset, parse_line, read_logs

pytestmark = pytest.mark.privileged


def test_stdout_and_stderr_are_separated(runtime_paths, containers):
    cid = containers("sh", "-c", "echo out1; echo err1 >&2; echo out2", start=True)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    entries = list(read_logs(runtime_paths, cid))
    by_stream = {
        s: b"".join(e.data for e in entries if e.stream == s) for s in ("stdout", "stderr")
    }
    assert by_stream == {"stdout": b"out1\nout2\n", "stderr": b"err1\n"}
    assert all(e.time.endswith("Z") and len(e.time) == 30 for e in entries)


def test_partial_line_keeps_no_newline(runtime_paths, containers):
    cid = containers("printf", "no-newline", start=True)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    assert b"".join(e.data for e in read_logs(runtime_paths, cid)) == b"no-newline"


def test_tail_and_since(runtime_paths, containers):
    cid = containers("sh", "-c", "echo a; echo b; sleep 1.2; echo c; echo d", start=True)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    assert [e.data for e in read_logs(runtime_paths, cid, tail=2)] == [b"c\n", b"d\n"]
    assert list(read_logs(runtime_paths, cid, tail=0)) == []
    entries = list(read_logs(runtime_paths, cid))
    cut = entries[2].timestamp
    assert [e.data for e in read_logs(runtime_paths, cid, since=cut)] == [b"c\n", b"d\n"]
    assert [e.data for e in read_logs(runtime_paths, cid, until=cut - 0.5)] == [b"a\n", b"b\n"]


def test_follow_ends_when_container_exits(runtime_paths, containers):
    cid = containers("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done", start=True)
    began = time.monotonic()
    data = [e.data for e in read_logs(runtime_paths, cid, follow=True)]
    assert data == [b"1\n", b"2\n", b"3\n"]
    assert time.monotonic() - began < 5


def test_follow_stops_when_asked(runtime_paths, containers):
    cid = containers("sh", "-c", "echo first; sleep 300", start=True)
    stop = threading.Event()
    got = []
    for entry in read_logs(runtime_paths, cid, follow=True, stop=stop):
        got.append(entry.data)
        stop.set()
    assert got == [b"first\n"]


def test_output_written_between_attach_and_start_is_not_lost(runtime_paths, containers):
    cid = containers("sh", "-c", "echo hello; echo world >&2")
    offset = log_offset(runtime_paths, cid)
    entries = []
    reader = threading.Thread(
        target=lambda: entries.extend(follow_output(runtime_paths, cid, offset))
    )
    reader.start()
    time.sleep(0.3)
    lifecycle.start(runtime_paths, cid)
    reader.join(10)
    assert not reader.is_alive()
    assert [(e.stream, e.data) for e in entries] == [("stdout", b"hello\n"), ("stderr", b"world\n")]


def test_log_rotation_limit_is_honoured(runtime_paths, containers):
    cid = containers("sh", "-c", "seq 1 20000", start=True, log_max_size=64 * 1024)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    assert lifecycle.log_path(runtime_paths, cid).stat().st_size <= 64 * 1024 + 4096


def test_parse_line_of_conmon_format():
    entry = parse_line(b"2024-05-01T10:00:00.123456789+02:00 stderr P abc\n")
    assert entry.stream == "stderr"
    assert entry.data == b"abc"
    assert entry.time == "2024-05-01T08:00:00.123456789Z"
