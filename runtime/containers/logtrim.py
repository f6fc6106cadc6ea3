"""Cutting a container's log down to its size limit, newest lines kept.

Rotation runs on a timer while conmon writes, so a fast writer can fill a file far past
max-size between two checks (attached output runs at about 150 MB/s in `bench.streams`: 75 MB
in the agent's half second), and a container that writes a burst and exits is never rotated.
Docker's json-file keeps at most max-size x max-file bytes whatever the pace; so here, files
no process writes any more are cut: the newest whole lines that fit stay, and what is older
goes.
"""

import contextlib
import os
from pathlib import Path

from runtime.containers.layout import load_spec, log_path, rotated
from runtime.containers.logfiles import LogFile, complete_end
from runtime.containers.logformat import split_record
from runtime.paths import RuntimePaths

# How much of a file is read at a time while looking for where a line begins.
SCAN = 64 * 1024
# How far back from a dropped file's end its unfinished line is looked for.
TAIL_WINDOW = 1024 * 1024


def kept_rotations(max_files: int) -> int:
    """How many rotated files a log keeps beside the live one (see `rotate_if_needed`)."""
    return max(max_files - 1, 1)


def trim_exited(paths: RuntimePaths, cid: str) -> None:
    """Cut an exited container's log to its max-size x max-file, live file included: no
    conmon writes it any more, and one that wrote fast or briefly was never rotated.

    A cut that fails (a full disk) leaves the log as it was, longer than asked: it is done
    while the exit is recorded, which matters more.
    """
    spec = load_spec(paths, cid)
    if spec.log_max_size <= 0:
        return
    log = log_path(paths, cid)
    keep = kept_rotations(spec.log_max_files)
    files = [log, *(rotated(log, n) for n in range(1, keep + 1))]
    with contextlib.suppress(OSError):
        keep_newest(files, spec.log_max_size * spec.log_max_files, rotated(log, keep + 1))


def keep_newest(files: list[Path], budget: int, remnant: Path) -> None:
    """Keep the newest `budget` bytes of the finished log `files` (newest first).

    The file that would go past the budget keeps the whole lines at its end that fit, and
    every older file goes. `remnant` holds the beginning of the line the oldest kept file
    starts inside, as a rotation leaves it (`unfinished_tail`): it is the oldest file's
    until that goes, then that of the newest file dropped whole.
    """
    room = budget
    for n, path in enumerate(files):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            continue
        if size <= room:
            room -= size
            continue
        tail = b""
        if room <= 0 or not _keep_end(path, size, room):
            tail = unfinished_tail(path)
            path.unlink(missing_ok=True)
        for older in files[n + 1 :]:
            older.unlink(missing_ok=True)
        remnant.unlink(missing_ok=True)
        if tail:
            write_remnant(remnant, tail)
        return


def _keep_end(path: Path, size: int, room: int) -> bool:
    """Cut `path` to the whole lines in its last `room` bytes; False if none is there."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        offset = _line_start(LogFile(fd, os.fstat(fd).st_ino), size - room)
        if offset is None or offset >= size:
            return False
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as target:
                while offset < size:
                    copied = os.copy_file_range(fd, target.fileno(), size - offset, offset)
                    if not copied:
                        break
                    offset += copied
            # A reader that opened the file before goes on reading the whole of it.
            os.rename(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)
    return True


def _line_start(f: LogFile, offset: int) -> int | None:
    """Where the first line that begins at or after `offset` begins: just after the first
    record ending there or later that ends a line. conmon splits a long line into records,
    and a cut between them would leave the oldest kept line without its beginning."""
    if offset == 0:
        return 0
    # The record that holds the byte before `offset`: if it ends a line, `offset` begins one.
    at, pending = complete_end(f, offset - 1), b""
    while chunk := f.read(at + len(pending), SCAN):
        data = pending + chunk
        begin = 0
        while (end := data.find(b"\n", begin)) >= 0:
            record = split_record(data[begin:end])
            begin = end + 1
            if record is not None and record[2]:
                return at + begin
        at, pending = at + begin, data[begin:]
    return None


def unfinished_tail(path: Path) -> bytes:
    """The records at the end of the log file `path` from the first one of a line it does not
    finish (conmon splits a line across records at its 8192-byte reads, and a rotation can
    fall between them); b"" when every line in it ends there.

    Kept when the file is dropped, those records stay the beginning of the line the next
    file ends, so the oldest kept line is whole. A line longer than TAIL_WINDOW keeps its end.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_WINDOW)
            f.seek(start)
            window = f.read()
    except FileNotFoundError:
        return b""
    if start:
        window = window[window.find(b"\n") + 1 :]
    open_since: dict[int, int] = {}
    offset = 0
    for line in window.splitlines(keepends=True):
        parsed = split_record(line.rstrip(b"\n"))
        if parsed is not None:
            _, fd, ends_line, _ = parsed
            if ends_line:
                open_since.pop(fd, None)
            else:
                open_since.setdefault(fd, offset)
        offset += len(line)
    return window[min(open_since.values()) :] if open_since else b""


def write_remnant(path: Path, records: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(records)
    os.rename(tmp, path)
