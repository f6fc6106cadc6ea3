"""The files of a container's log and positions in them.

conmon writes `container.log`; rotation (logrotate.py) renames it to `container.log.1`, the
older ones to `.2`, `.3`, ... So the log, oldest first, is `.N` ... `.1`, `container.log`,
and a position in it is (file index, byte offset). Records are in time order, so a time
is found by bisecting byte offsets, and the last lines by reading backwards.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

from runtime.containers.logformat import record_time, split_record

# A record is at most conmon's 8192-byte read plus its header, so any window this wide
# holds the end of one.
RECORD_MAX = 16 * 1024
_ROTATED = re.compile(r"\.(\d+)")
_ANY_F = re.compile(rb"\n[^\n]{35} std(?:out|err) F ", re.DOTALL)


@dataclass
class LogFile:
    fd: int
    ino: int

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)


def _inodes(log: Path) -> list[tuple[str, int]]:
    """The log's files as (name, inode), oldest first.

    A rotation moves files from a name to an older one while this looks. Looking from the
    newest name to the oldest, a moving file can be seen twice (then the second sighting is
    dropped) but never missed; only a file created meanwhile is, and it is newer than all.
    """
    try:
        entries = os.listdir(log.parent)
    except FileNotFoundError:
        return []
    prefix = log.name
    oldest = 0
    for name in entries:
        match = _ROTATED.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if match:
            oldest = max(oldest, int(match.group(1)))
    seen: set[int] = set()
    found = []
    # One name past the oldest: a file may move there while this looks.
    for n in range(oldest + 2):
        name = prefix if n == 0 else f"{prefix}.{n}"
        try:
            ino = os.stat(log.parent / name).st_ino
        except FileNotFoundError:
            continue
        if ino not in seen:
            seen.add(ino)
            found.append((name, ino))
    return found[::-1]


def _open(path: Path, ino: int) -> LogFile | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    if os.fstat(fd).st_ino != ino:
        os.close(fd)
        return None
    return LogFile(fd, ino)


def close_all(files: list[LogFile]) -> None:
    for f in files:
        os.close(f.fd)


def open_files(log: Path) -> list[LogFile]:
    """The log's files, oldest first, as they were at one moment.

    A rotation renames several files; the names are read again until a rotation did not
    happen while they were opened, so no file is missed or read twice.
    """
    while True:
        before = _inodes(log)
        files = []
        for name, ino in before:
            f = _open(log.parent / name, ino)
            if f is None:
                break
            files.append(f)
        if len(files) == len(before) and _inodes(log) == before:
            return files
        close_all(files)


def successor(log: Path, current: LogFile) -> LogFile | None:
    """The file conmon wrote after `current`, or None while it may still write `current`.

    A file is finished once a newer one exists: conmon closes its log before it opens the
    next, and a rotation only renames. A reader that fell behind a whole rotation set goes
    on with the oldest file left.
    """
    while True:
        names = _inodes(log)
        inodes = [ino for _, ino in names]
        at = inodes.index(current.ino) + 1 if current.ino in inodes else 0
        if at >= len(names):
            return None
        name, ino = names[at]
        f = _open(log.parent / name, ino)
        if f is not None:
            return f


def complete_end(f: LogFile, size: int) -> int:
    """The end of the last whole record before `size`."""
    start = max(0, size - RECORD_MAX)
    while True:
        window = f.read(start, size - start)
        newline = window.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        if start == 0:
            return 0
        size, start = start, max(0, start - RECORD_MAX)


def _record_at_or_after(f: LogFile, offset: int, end: int) -> int:
    """The start of the first record at or after `offset`; `end` if none starts before it."""
    if offset == 0:
        return 0
    window = f.read(offset - 1, min(RECORD_MAX, end - offset + 1))
    newline = window.find(b"\n")
    return end if newline < 0 else min(end, offset + newline)


def _time_of(f: LogFile, record: int) -> float:
    head = f.read(record, 64)
    try:
        return record_time(head[: head.find(b" ")])
    except ValueError:
        # A torn record (conmon killed mid-write) counts as older than anything asked for.
        return float("-inf")


def bisect_time(f: LogFile, start: int, end: int, when: float, after: bool) -> int:
    """The first record in [start, end) whose time is >= `when` (> `when` if `after`);
    `end` if none is. `start` and `end` are record boundaries."""

    def before(record: int) -> bool:
        t = _time_of(f, record)
        return t <= when if after else t < when

    lo, hi = start, end
    while lo < hi:
        mid = _record_at_or_after(f, (lo + hi) // 2, hi)
        if mid >= hi:
            # No record starts in the upper half: step through the few below it.
            record = lo
            while record < hi and before(record):
                record = _record_at_or_after(f, record + 1, hi)
            return record
        if before(mid):
            lo = _record_at_or_after(f, mid + 1, hi)
        else:
            hi = mid
    return lo


def ends_unfinished(f: LogFile, start: int, end: int) -> bool:
    """Whether the last record of [start, end) is a P: its line is not finished yet."""
    if end <= start:
        return False
    window = f.read(max(start, end - RECORD_MAX), min(RECORD_MAX, end - start))
    record = split_record(window[window.rfind(b"\n", 0, len(window) - 1) + 1 : -1])
    return record is not None and not record[2]


def tail_start(f: LogFile, start: int, end: int, lines: int) -> tuple[int, int | None]:
    """Where the last `lines` whole lines of [start, end) begin, reading backwards from `end`:
    after the F record that ends the line before them. Records after the last F count as
    none of the `lines`.

    Answers (offset, None), or (start, lines still wanted) when [start, end) holds too few.
    """
    wanted = lines + 1
    # A first block about the size of what is asked: `logs --tail 10` of short lines would
    # otherwise read and scan some 1600 records it does not need.
    block = min(64 * 1024, max(4 * 1024, wanted * 1024))
    hi = end
    while hi > start:
        lo = max(start, hi - block)
        data = f.read(lo, hi - lo)
        if lo > start:
            # Counting F headers needs the newline before each record: records before the
            # first newline of this block are counted with the next block.
            first = data.find(b"\n")
            if first < 0:
                block *= 2
                continue
            region, base = data[first:], lo + first
        else:
            region, base = b"\n" + data, lo - 1
        marks = [m.start() for m in _ANY_F.finditer(region)]
        found = len(marks)
        if found >= wanted:
            record = base + marks[found - wanted] + 1
            return record + f.read(record, RECORD_MAX).find(b"\n") + 1, None
        wanted -= found
        hi = base + 1
        block = min(block * 2, 4 * 1024 * 1024)
    return start, wanted - 1
