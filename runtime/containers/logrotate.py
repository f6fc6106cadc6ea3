"""Rotating container logs by size, as Docker's json-file does with max-size and max-file.

conmon cannot rotate without loss: at its --log-size-max it replaces the log with an empty
file. Here the log is renamed away instead, and conmon is asked (message 2 on its ctl fifo)
to reopen it. conmon 2.1.6 keeps writing the renamed file until it reads that message, then
closes it, creates `container.log.tmp` empty and renames it to `container.log`; so every
record lands in exactly one file, and a reader finds the next file by the name the old one
no longer has (logfiles.successor).

Rotation happens when a periodic check finds the log at max-size, so the live file can grow
past it by what the container writes between two checks. Finished files are cut (`logtrim`):
a rotated file filled far past max-size once conmon has finished it, and the whole log to
max-size x max-file when the container exits.
"""

import os
from pathlib import Path

from runtime.containers.layout import bundle, load_spec, locked, log_path, rotated
from runtime.containers.lifecycle import list_ids
from runtime.containers.logtrim import keep_newest, kept_rotations, unfinished_tail, write_remnant
from runtime.errors import NotFound
from runtime.paths import RuntimePaths

CTL_REOPEN_LOG = 2


def rotate_if_needed(paths: RuntimePaths, cid: str, max_size: int, max_files: int) -> bool:
    """Rotate the container's log if it has reached `max_size` bytes; True if it did.

    Keeps `max_files` files in all, the live one included, except that with 1 the full file
    is dropped at the next rotation rather than at once. Docker rotates as it writes, so the
    lines that overflow a file begin the next one; here they are at the end of the full
    file, and dropping it at once would lose the newest lines (all of a container's last
    words, if it then exits). Only a running container's log is rotated.

    A file filled far past max-size between two checks is cut once conmon has finished it
    (`logtrim`): the rotated files then hold at most `max_size` x their number, newest lines
    kept, as Docker's files would have.
    """
    if max_size <= 0:
        return False
    log = log_path(paths, cid)
    try:
        size = os.stat(log).st_size
    except FileNotFoundError:
        # Not started yet, or conmon has not yet reopened after the last rotation.
        return False
    keep = kept_rotations(max_files)
    # The live file is there, so conmon has finished `.1`.
    overgrown = _size(rotated(log, 1)) > (keep + 1) * max_size
    if size < max_size and not overgrown:
        return False
    # An exit being recorded cuts the files to size (`logtrim.trim_exited`): not both at once.
    with locked(paths, cid, wait=False) as mine:
        if not mine:
            return False
        if overgrown:
            rotations = [rotated(log, n) for n in range(1, keep + 1)]
            keep_newest(rotations, keep * max_size, rotated(log, keep + 1))
        return size >= max_size and _rotate(log, bundle(paths, cid) / "ctl", keep)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _rotate(log: Path, ctl_path: Path, keep: int) -> bool:
    try:
        # Without a reader (no conmon) the fifo cannot be opened for writing: ENXIO.
        ctl = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
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
