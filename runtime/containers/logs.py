"""Reading conmon's k8s-file container log: `<time> <stream> <F|P> <data>` per line.

conmon ends a line with P when the container wrote it without a newline (or it was
split at conmon's buffer size); F marks the end of a line.
"""

import calendar
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from inotify_simple import flags

from runtime.containers.lifecycle import exit_file, log_path
from runtime.containers.state import Status, load_state
from runtime.containers.watching import watching
from runtime.paths import RuntimePaths

POLL_MS = 200


@dataclass
class LogEntry:
    stream: str
    time: str
    data: bytes

    @property
    def timestamp(self) -> float:
        return parse_time(self.time)


def parse_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds and any offset -> seconds since the epoch."""
    date, _, rest = text.partition("T")
    clock = rest[:8]
    tail = rest[8:]
    frac = ""
    if tail.startswith("."):
        i = 1
        while i < len(tail) and tail[i].isdigit():
            i += 1
        frac, tail = tail[1:i], tail[i:]
    offset = 0
    if tail and tail[0] in "+-":
        hh, mm = int(tail[1:3]), int(tail[4:6])
        offset = (hh * 3600 + mm * 60) * (1 if tail[0] == "+" else -1)
    struct = time.strptime(f"{date}T{clock}", "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(struct) - offset + (float("0." + frac) if frac else 0.0)


def _utc(text: str) -> str:
    """Normalise conmon's local-offset time to UTC RFC3339Nano, as Docker prints it."""
    seconds = parse_time(text)
    frac = text.partition(".")[2]
    digits = "".join(c for c in frac[:9] if c.isdigit()).ljust(9, "0") if frac else "000000000"
    whole = int(seconds) if seconds >= 0 else int(seconds) - 1
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{digits}Z"


def parse_line(line: bytes) -> LogEntry | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0].decode(), parts[1].decode(), parts[2]
    data = parts[3] if len(parts) == 4 else b""
    if tag == b"F":
        data += b"\n"
    return LogEntry(stream=stream, time=_utc(stamp), data=data)


def _entries(data: bytes) -> tuple[list[LogEntry], int]:
    """Complete records in `data` and how many bytes they used."""
    out: list[LogEntry] = []
    used = 0
    while True:
        nl = data.find(b"\n", used)
        if nl < 0:
            return out, used
        entry = parse_line(data[used : nl + 1])
        used = nl + 1
        if entry is not None:
            out.append(entry)


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


def _follow(
    paths: RuntimePaths,
    cid: str,
    offset: int,
    stop: threading.Event | None,
    wait_for_start: bool,
) -> Iterator[LogEntry]:
    path = log_path(paths, cid)
    # conmon's exit file ends the stream; watching for it avoids waiting out a poll.
    exits = exit_file(paths, cid).parent
    exits.mkdir(parents=True, exist_ok=True)
    with watching(
        (paths.container(cid), flags.MODIFY | flags.CREATE | flags.CLOSE_WRITE),
        (exits, flags.CREATE | flags.CLOSE_WRITE | flags.MOVED_TO),
    ) as inotify:
        pending = b""
        while True:
            done = _finished(paths, cid, wait_for_start)
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size < offset:
                        # conmon truncated the log on reaching --log-size-max.
                        offset, pending = 0, b""
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            offset += len(chunk)
            pending += chunk
            entries, used = _entries(pending)
            pending = pending[used:]
            yield from entries
            if done or (stop is not None and stop.is_set()):
                return
            inotify.read(timeout=POLL_MS)


def read_logs(
    paths: RuntimePaths,
    cid: str,
    *,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[LogEntry]:
    """The container's log; with `follow`, new entries until the container exits."""
    load_state(paths, cid)
    path = log_path(paths, cid)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    entries, used = _entries(data)

    def wanted(e: LogEntry) -> bool:
        t = e.timestamp
        return (since is None or t >= since) and (until is None or t <= until)

    selected = [e for e in entries if wanted(e)]
    if tail is not None and tail >= 0:
        selected = list(deque(selected, maxlen=tail)) if tail else []
    yield from selected
    if not follow:
        return
    for entry in _follow(paths, cid, used, stop, wait_for_start=False):
        if until is not None and entry.timestamp > until:
            return
        if since is None or entry.timestamp >= since:
            yield entry


def log_offset(paths: RuntimePaths, cid: str) -> int:
    try:
        return log_path(paths, cid).stat().st_size
    except FileNotFoundError:
        return 0


def follow_output(
    paths: RuntimePaths, cid: str, offset: int, stop: threading.Event | None = None
) -> Iterator[LogEntry]:
    """Everything logged after `offset`, until the container has exited and all is read.

    Waits through the created state, so an attach made before start sees all output.
    """
    yield from _follow(paths, cid, offset, stop, wait_for_start=True)
