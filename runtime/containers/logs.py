"""Reading a container's log (conmon's k8s-file, rotated by logrotate.py) as Docker serves it.

`read_log_chunks` is the reader: it finds where to begin without reading what comes before
(a time by bisection, the last lines by reading backwards), then decodes big blocks at once
(see logformat.py), and with `follow` goes on with what conmon writes, across rotations,
until the container has exited and everything is read.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inotify_simple import flags

from runtime.containers.layout import exit_file, load_spec, log_path
from runtime.containers.logfiles import (
    LogFile,
    bisect_time,
    close_all,
    complete_end,
    ends_unfinished,
    open_files,
    successor,
    tail_start,
)
from runtime.containers.logformat import STDOUT, Decoder, record_time, split_record, utc_time
from runtime.containers.state import Status, load_state
from runtime.containers.watching import watching
from runtime.errors import InvalidInput
from runtime.paths import RuntimePaths

POLL_MS = 200
# Blocks of records read at once; what a block decodes to is at most as long.
BLOCK = 256 * 1024


def _finished(paths: RuntimePaths, cid: str, wait_for_start: bool) -> bool:
    if exit_file(paths, cid).exists():
        return True
    try:
        state = load_state(paths, cid)
    except Exception:
        return True
    if state.status == Status.created:
        return not wait_for_start
    return state.status not in (Status.running, Status.paused, Status.restarting)


def _read(f: LogFile, offset: int, end: int | None) -> Iterator[bytes]:
    """Whole records of `f` from `offset` to `end` (to the last whole one if None).

    Returns, as the generator's value, where it stopped."""
    while end is None or offset < end:
        data = f.read(offset, BLOCK if end is None else min(BLOCK, end - offset))
        if end is None or offset + len(data) < end:
            data = data[: data.rfind(b"\n") + 1]
        if not data:
            break
        offset += len(data)
        yield data
    return offset


def _time_at(block: bytes, start: int) -> float:
    try:
        return record_time(block[start : block.find(b" ", start)])
    except ValueError:
        return float("-inf")


def _first_after(block: bytes, when: float, after: bool) -> int:
    """Where the first record of `block` at or after `when` (after it, if `after`) begins."""
    start = 0
    while start < len(block):
        t = _time_at(block, start)
        if t > when or (t == when and not after):
            return start
        start = block.index(b"\n", start) + 1
    return start


def _cut_after(block: bytes, until: float) -> tuple[bytes, bool]:
    """The records of `block` up to time `until`, and whether any came after it."""
    if _time_at(block, block.rfind(b"\n", 0, len(block) - 1) + 1) <= until:
        return block, False
    cut = _first_after(block, until, after=True)
    return block[:cut], True


@dataclass
class _Range:
    """Where reading begins and ends: (file index, offset) each."""

    start: tuple[int, int]
    end: tuple[int, int]
    # The end is the first record after `until`, not the end of the log: nothing follows.
    ends_early: bool = False


def _range(
    files: list[LogFile],
    ends: list[int],
    since: float | None,
    until: float | None,
    tail: int | None,
) -> _Range:
    last = len(files) - 1
    r = _Range(start=(0, 0), end=(last, ends[last]))
    if since is not None:
        r.start = r.end
        for i, f in enumerate(files):
            offset = bisect_time(f, 0, ends[i], since, after=False)
            if offset < ends[i]:
                r.start = (i, offset)
                break
    if until is not None:
        for i in range(r.start[0], len(files)):
            lo = r.start[1] if i == r.start[0] else 0
            offset = bisect_time(files[i], lo, ends[i], until, after=True)
            if offset < ends[i]:
                r.end, r.ends_early = (i, offset), True
                break
    # As in Docker, a negative tail means all of it.
    if tail is not None and tail >= 0:
        r.start = _tail(files, ends, r, tail)
    return r


def _tail(files: list[LogFile], ends: list[int], r: _Range, tail: int) -> tuple[int, int]:
    if tail == 0:
        return r.end
    i, hi = r.end
    first = r.start[0]
    # An unfinished last line is one of the lines asked for.
    lo = r.start[1] if i == first else 0
    lines: int | None = tail - 1 if ends_unfinished(files[i], lo, hi) else tail
    while True:
        lo = r.start[1] if i == first else 0
        offset, lines = tail_start(files[i], lo, hi, lines)
        if lines is None or i == first:
            return i, offset
        i -= 1
        hi = ends[i]


def _stored(
    files: list[LogFile],
    since: float | None,
    until: float | None,
    tail: int | None,
) -> Iterator[bytes]:
    """Blocks of what the log holds now, as chosen; returns where reading stopped, or None
    if it stopped at `until`."""
    ends = [complete_end(f, f.size()) for f in files]
    r = _range(files, ends, since, until, tail)
    (i, offset), (last, end) = r.start, r.end
    while True:
        stop = end if i == last else ends[i]
        yield from _read(files[i], offset, stop)
        if i >= last:
            return None if r.ends_early else (i, stop)
        i, offset = i + 1, 0


def _follow(
    paths: RuntimePaths,
    cid: str,
    current: LogFile | None,
    offset: int,
    until: float | None,
    stop: threading.Event | None,
    wait_for_start: bool,
) -> Iterator[bytes]:
    """Blocks conmon writes from `offset` of `current` on, across rotations, until the
    container has exited and all is read (or `stop` is set, or `until` has passed).

    `current` stays the caller's to close; files opened here are closed here."""
    log = log_path(paths, cid)
    # conmon's exit file ends the stream; watching for it avoids waiting out a poll.
    exits = exit_file(paths, cid).parent
    exits.mkdir(parents=True, exist_ok=True)
    mine: LogFile | None = None
    try:
        with watching(
            (log.parent, flags.MODIFY | flags.CREATE | flags.CLOSE_WRITE | flags.MOVED_TO),
            (exits, flags.CREATE | flags.CLOSE_WRITE | flags.MOVED_TO),
        ) as inotify:
            while True:
                done = _finished(paths, cid, wait_for_start)
                late = until is not None and time.time() > until
                while True:
                    if current is None:
                        files = open_files(log)
                        if not files:
                            break
                        # Only the oldest: the others are found again as its successors.
                        close_all(files[1:])
                        current = mine = files[0]
                        offset = 0
                    offset = yield from _read(current, offset, None)
                    after = successor(log, current)
                    if after is None:
                        break
                    # A newer file exists, so conmon has closed this one: read its last records.
                    yield from _read(current, offset, None)
                    if mine is not None:
                        close_all([mine])
                    current = mine = after
                    offset = 0
                if done or late or (stop is not None and stop.is_set()):
                    return
                # Nothing more for now: an empty block tells readers to pass on what they hold.
                yield b""
                inotify.read(timeout=POLL_MS)
    finally:
        if mine is not None:
            close_all([mine])


def _blocks(
    paths: RuntimePaths,
    cid: str,
    *,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """Blocks of whole records: the log as chosen, then with `follow` what comes after."""
    files = open_files(log_path(paths, cid))
    try:
        at: tuple[int, int] | None = (-1, 0)
        if files:
            at = yield from _stored(files, since, until, tail)
        if not follow or at is None:
            return
        current = files[at[0]] if files else None
        for block in _follow(paths, cid, current, at[1], until, stop, wait_for_start=False):
            past = False
            if since is not None and block:
                # Only when `since` is later than all the log held: records are in time
                # order, so once one is late enough, all that follow are.
                if _time_at(block, 0) >= since:
                    since = None
                else:
                    block = block[_first_after(block, since, after=False) :]
            if until is not None and block:
                block, past = _cut_after(block, until)
            yield block
            if past or (stop is not None and stop.is_set()):
                return
    finally:
        close_all(files)


def read_log_chunks(
    paths: RuntimePaths,
    cid: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    follow: bool = False,
    timestamps: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[tuple[int, bytes]]:
    """The container's output as (fd, data): fd 1 for stdout, 2 for stderr, and data as
    the container wrote it, in chunks of up to BLOCK bytes.

    `since` and `until` are seconds since the epoch; `tail` keeps the last lines (of both
    streams, before `stdout`/`stderr` choose; negative for all); `timestamps` starts each
    line with Docker's UTC time; `follow` goes on until the container has exited and all is
    read, or `stop` is set. NotFound and InvalidInput (a container that keeps no log) are
    raised by the call, not by the first chunk.
    """
    if load_spec(paths, cid).log_driver == "none":
        raise InvalidInput("configured logging driver does not support reading")
    decoder = Decoder(stdout=stdout, stderr=stderr, timestamps=timestamps)
    blocks = _blocks(paths, cid, since=since, until=until, tail=tail, follow=follow, stop=stop)
    return _chunks(decoder, blocks)


def _chunks(decoder: Decoder, blocks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    # Short lines decode to much less than a block: pieces of one stream are joined up to a
    # block's size, and passed on as soon as the log has nothing more for now.
    held: list[bytes] = []
    held_fd, held_size = 0, 0
    for block in blocks:
        for fd, data in decoder.decode(block) if block else ():
            if not data:
                continue
            if held and (fd != held_fd or held_size + len(data) > BLOCK):
                yield held_fd, b"".join(held)
                held, held_size = [], 0
            held.append(data)
            held_fd, held_size = fd, held_size + len(data)
        if held and not block:
            yield held_fd, b"".join(held)
            held, held_size = [], 0
    if held:
        yield held_fd, b"".join(held)


# --- One entry per record, for the image builder ----------------------------------------------


@dataclass
class LogEntry:
    stream: str
    time: str
    data: bytes


def _entries(blocks: Iterator[bytes]) -> Iterator[LogEntry]:
    for block in blocks:
        for line in block.split(b"\n")[:-1]:
            record = split_record(line)
            if record is None:
                continue
            stamp, fd, full, data = record
            yield LogEntry(
                stream="stdout" if fd == STDOUT else "stderr",
                time=utc_time(stamp.decode()),
                data=data + b"\n" if full else data,
            )


def log_offset(paths: RuntimePaths, cid: str) -> int:
    """The size of the log file conmon writes now (see follow_output)."""
    try:
        return log_path(paths, cid).stat().st_size
    except FileNotFoundError:
        return 0


def follow_output(
    paths: RuntimePaths, cid: str, offset: int, stop: threading.Event | None = None
) -> Iterator[LogEntry]:
    """Everything logged after `offset` of the current log file, until the container has
    exited and all is read.

    Waits through the created state, so a reader started before the start sees all output.
    """
    log = log_path(paths, cid)
    files = open_files(log)
    current = files[-1] if files and files[-1].ino == _inode(log) else None
    try:
        follow = _follow(paths, cid, current, offset if current else 0, None, stop, True)
        yield from _entries(follow)
    finally:
        close_all(files)


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1
