"""Rotating container logs by size, as Docker's json-file does with max-size and max-file.

conmon cannot rotate without loss: at its --log-size-max it replaces the log with an empty
file. Here the log is renamed away instead, and conmon is asked (message 2 on its ctl fifo)
to reopen it. conmon 2.1.6 keeps writing the renamed file until it reads that message, then
closes it, creates `container.log.tmp` empty and renames it to `container.log`; so every
record lands in exactly one file, and a reader finds the next file by the name the old one
no longer has (logfiles.successor).

Rotation happens when a periodic check finds the log at max-size, so a file can grow past
it by what the container writes between two checks.
"""

import os
from pathlib import Path

from runtime.containers.layout import bundle, load_spec, log_path
from runtime.containers.lifecycle import list_ids
from runtime.containers.logformat import split_record
from runtime.errors import NotFound
from runtime.paths import RuntimePaths

CTL_REOPEN_LOG = 2
# How far back from a dropped file's end its unfinished line is looked for.
TAIL_WINDOW = 1024 * 1024


def rotated(log: Path, n: int) -> Path:
    return log.with_name(f"{log.name}.{n}")


def rotate_if_needed(paths: RuntimePaths, cid: str, max_size: int, max_files: int) -> bool:
    """Rotate the container's log if it has reached `max_size` bytes; True if it did.

    Keeps `max_files` files in all, the live one included, except that with 1 the full file
    is dropped at the next rotation rather than at once. Docker rotates as it writes, so the
    lines that overflow a file begin the next one; here they are at the end of the full
    file, and dropping it at once would lose the newest lines (all of a container's last
    words, if it then exits). Only a running container's log is rotated.
    """
    if max_size <= 0:
        return False
    log = log_path(paths, cid)
    try:
        if os.stat(log).st_size < max_size:
            return False
    except FileNotFoundError:
        # Not started yet, or conmon has not yet reopened after the last rotation.
        return False
    try:
        # Without a reader (no conmon) the fifo cannot be opened for writing: ENXIO.
        ctl = os.open(bundle(paths, cid) / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        keep = max(max_files - 1, 1)
        # The last rotation's remnant goes with the file whose beginning it held.
        rotated(log, keep + 1).unlink(missing_ok=True)
        remnant = unfinished_tail(rotated(log, keep))
        rotated(log, keep).unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            try:
                os.rename(rotated(log, n), rotated(log, n + 1))
            except FileNotFoundError:
                continue
        # Whatever follows, the oldest kept file begins inside the line the remnant starts.
        if remnant:
            write_remnant(rotated(log, keep + 1), remnant)
        os.rename(log, rotated(log, 1))
        try:
            os.write(ctl, f"{CTL_REOPEN_LOG} 0 0\n".encode())
        except OSError:
            # conmon will not reopen (it has just exited, or does not read its fifo): the log
            # gets its name back, or rotation would never find it again.
            os.rename(rotated(log, 1), log)
            return False
        return True
    finally:
        os.close(ctl)


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


class LogRotator:
    """Rotates the logs of every container of a node that asked for it.

    A check costs a stat or two per container: limits are read from spec.json once (they
    never change), and a log is only looked at when its container has a max-size.
    """

    def __init__(self, paths: RuntimePaths):
        self.paths = paths
        self._limits: dict[str, tuple[int, int]] = {}

    def _limits_of(self, cid: str) -> tuple[int, int]:
        limits = self._limits.get(cid)
        if limits is None:
            spec = load_spec(self.paths, cid)
            limits = self._limits[cid] = (spec.log_max_size, spec.log_max_files)
        return limits

    def rotate_all(self) -> list[str]:
        """Rotate each log that reached its max-size; answers the containers rotated."""
        ids = list_ids(self.paths)
        for gone in self._limits.keys() - set(ids):
            del self._limits[gone]
        done = []
        for cid in ids:
            try:
                max_size, max_files = self._limits_of(cid)
                if max_size > 0 and rotate_if_needed(self.paths, cid, max_size, max_files):
                    done.append(cid)
            except (NotFound, FileNotFoundError):
                # Removed while we looked.
                continue
        return done
