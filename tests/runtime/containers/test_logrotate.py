"""Rotating a running container's log loses nothing and keeps what max-file says."""

import threading
import time

import pytest

from runtime.containers import layout, lifecycle
from runtime.containers.logrotate import LogRotator, rotate_if_needed
from runtime.containers.logs import read_log_chunks
from runtime.containers.logtrim import unfinished_tail
from tests.runtime.containers.logrecords import BASE, record

pytestmark = pytest.mark.privileged

MiB = 1024 * 1024
# About 45 MB of log in eleven bursts with pauses between, so that rotations land while it
# runs (and while conmon writes) however busy the machine is.
WRITER = "seq 1 300000; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.05; seq 1 60000; done; echo last"


def expected() -> bytes:
    once = "".join(f"{n}\n" for n in range(1, 60001))
    return ("".join(f"{n}\n" for n in range(1, 300001)) + once * 10 + "last\n").encode()


def read(paths, cid, **options) -> bytes:
    return b"".join(data for _, data in read_log_chunks(paths, cid, **options))


def wait_for_last_line(paths, cid, line: bytes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while read(paths, cid, tail=1) != line:
        assert time.monotonic() < deadline, f"the log never ended with {line!r}"
        time.sleep(0.05)


def log_files(paths, cid) -> list[str]:
    return sorted(p.name for p in layout.bundle(paths, cid).glob("container.log*"))


class Rotating:
    """rotate_if_needed in a loop, as the agent runs it but far more often."""

    def __init__(self, paths, cid, max_size: int, max_files: int):
        self.rotations = 0
        self._done = threading.Event()

        def run() -> None:
            while not self._done.is_set():
                if rotate_if_needed(paths, cid, max_size, max_files):
                    self.rotations += 1
                self._done.wait(0.002)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._done.set()
        self._thread.join(10)
        return self.rotations


def test_no_line_is_lost_or_repeated_across_rotations(runtime_paths, containers):
    limits = {"log_max_size": MiB, "log_max_files": 1000}
    cid = containers("sh", "-c", f"sleep 0.2; {WRITER}", start=True, **limits)
    rotating = Rotating(runtime_paths, cid, MiB, 1000)
    followed = read(runtime_paths, cid, follow=True)
    assert lifecycle.wait(runtime_paths, cid, timeout=60).status == "exited"
    rotations = rotating.stop()
    assert rotations >= 3
    # The last rotation may have come as the container exited, before conmon reopened.
    assert len(log_files(runtime_paths, cid)) in (rotations, rotations + 1)
    assert followed == expected()
    assert read(runtime_paths, cid) == expected()
    assert read(runtime_paths, cid, tail=1) == b"last\n"


def test_max_files_are_kept_and_end_with_the_last_line(runtime_paths, containers):
    limits = {"log_max_size": MiB, "log_max_files": 3}
    cid = containers("sh", "-c", WRITER, start=True, **limits)
    rotating = Rotating(runtime_paths, cid, MiB, 3)
    assert lifecycle.wait(runtime_paths, cid, timeout=60).status == "exited"
    assert rotating.stop() >= 3
    # Two files are rotated ones, and the live one unless the container exited while a
    # rotation waited for conmon to reopen (or to hear it: then the live one is back).
    # Beside them, `.3` may hold the beginning of the line `.2` begins inside of (a line
    # conmon split across two records, the first in the file dropped).
    files = [name for name in log_files(runtime_paths, cid) if name != "container.log.3"]
    assert len(files) in (2, 3)
    assert set(files) <= {"container.log", "container.log.1", "container.log.2"}
    bundle = layout.bundle(runtime_paths, cid)
    # Once it exited, the log was cut to max-size x max-file.
    assert sum((bundle / name).stat().st_size for name in log_files(runtime_paths, cid)) <= 3 * MiB
    remnant = bundle / "container.log.3"
    assert not remnant.exists() or remnant.stat().st_size < 64 * 1024
    kept = read(runtime_paths, cid)
    # The kept files are one contiguous stretch of whole lines ending at the last one.
    assert expected().endswith(kept) and expected()[-len(kept) - 1 :].startswith(b"\n")
    assert kept.count(b"\n") > 2 * MiB // 60


def test_with_one_file_the_full_one_goes_at_the_next_rotation(runtime_paths, containers):
    cid = containers("sh", "-c", WRITER, start=True, log_max_size=MiB, log_max_files=1)
    rotating = Rotating(runtime_paths, cid, MiB, 1)
    assert lifecycle.wait(runtime_paths, cid, timeout=60).status == "exited"
    assert rotating.stop() >= 2
    names = {"container.log", "container.log.1", "container.log.2"}
    assert set(log_files(runtime_paths, cid)) <= names
    kept = read(runtime_paths, cid)
    assert expected().endswith(kept) and expected()[-len(kept) - 1 :].startswith(b"\n")
    assert len(kept) < len(expected()) // 2


def test_only_running_containers_with_a_max_size_are_rotated(runtime_paths, containers):
    unlimited = containers("sh", "-c", "seq 1 200000; sleep 300", start=True)
    limited = containers("sh", "-c", "seq 1 200000; sleep 300", start=True, log_max_size=MiB)
    finished = containers("seq", "1", "200000", start=True, log_max_size=MiB)
    assert lifecycle.wait(runtime_paths, finished, timeout=30).status == "exited"
    rotator = LogRotator(runtime_paths)
    deadline = time.monotonic() + 10
    rotated: list[str] = []
    while not rotated and time.monotonic() < deadline:
        rotated = rotator.rotate_all()
    assert rotated == [limited]
    assert log_files(runtime_paths, unlimited) == ["container.log"]
    assert log_files(runtime_paths, finished) == ["container.log"]
    assert read(runtime_paths, limited).endswith(b"199999\n200000\n")
    deadline = time.monotonic() + 10
    while len(log_files(runtime_paths, limited)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log_files(runtime_paths, limited) == ["container.log", "container.log.1"]


def test_a_dropped_file_keeps_the_beginning_of_the_line_it_left_unfinished(tmp_path):
    log = tmp_path / "container.log.2"
    whole = record(BASE, "stdout", b"1") + record(BASE, "stderr", b"oops")
    split = record(BASE + 1, "stdout", b"42", full=False)
    after = record(BASE + 1, "stderr", b"still whole")
    log.write_bytes(whole + split + after)
    assert unfinished_tail(log) == split + after
    log.write_bytes(whole)
    assert unfinished_tail(log) == b""
    assert unfinished_tail(tmp_path / "gone") == b""


def test_a_burst_never_rotated_is_cut_to_its_limit_when_the_container_exits(
    runtime_paths, containers
):
    cid = containers("seq", "1", "1000000", start=True, log_max_size=MiB, log_max_files=3)
    assert lifecycle.wait(runtime_paths, cid, timeout=60).status == "exited"
    assert log_files(runtime_paths, cid) == ["container.log"]
    # The limit counts the log's records, headers included, as Docker's counts its JSON.
    assert 3 * MiB - 1024 < layout.log_path(runtime_paths, cid).stat().st_size <= 3 * MiB
    kept = read(runtime_paths, cid)
    every = "".join(f"{n}\n" for n in range(1, 1000001)).encode()
    assert every.endswith(kept) and every[-len(kept) - 1 :].startswith(b"\n")


def test_a_file_filled_far_past_max_size_is_cut_once_conmon_finished_it(runtime_paths, containers):
    # Two bursts of 5 MB of log, each rotated only once it was written, as a writer faster
    # than the rotation checks leaves them; max-size is 256 KiB and two rotated files are kept.
    script = "seq 1 100000; until [ -e /go ]; do sleep 0.05; done; seq 100001 200000; sleep 300"
    cid = containers("sh", "-c", script, start=True, log_max_size=MiB // 4, log_max_files=3)
    log = layout.log_path(runtime_paths, cid)
    wait_for_last_line(runtime_paths, cid, b"100000\n")
    assert rotate_if_needed(runtime_paths, cid, MiB // 4, 3)
    (layout.rootfs(runtime_paths, cid) / "go").touch()
    wait_for_last_line(runtime_paths, cid, b"200000\n")
    assert rotate_if_needed(runtime_paths, cid, MiB // 4, 3)
    deadline = time.monotonic() + 10
    while not log.exists():
        assert time.monotonic() < deadline, "conmon did not reopen its log"
        time.sleep(0.01)
    # The next check finds `.1` finished, 20 times max-size: cut to what two files may hold.
    assert not rotate_if_needed(runtime_paths, cid, MiB // 4, 3)
    assert log_files(runtime_paths, cid) == ["container.log", "container.log.1"]
    assert MiB // 2 - 1024 < layout.rotated(log, 1).stat().st_size <= MiB // 2
    kept = read(runtime_paths, cid)
    second = "".join(f"{n}\n" for n in range(100001, 200001)).encode()
    assert second.endswith(kept) and second[-len(kept) - 1 :].startswith(b"\n")


def test_no_rotation_while_the_container_is_locked(runtime_paths, containers):
    # Recording an exit holds the lock while it cuts the log: a rotation then waits a round.
    cid = containers("sh", "-c", "seq 1 200000; sleep 300", start=True, log_max_size=MiB)
    wait_for_last_line(runtime_paths, cid, b"200000\n")
    with layout.locked(runtime_paths, cid):
        assert not rotate_if_needed(runtime_paths, cid, MiB, 3)
    assert rotate_if_needed(runtime_paths, cid, MiB, 3)
