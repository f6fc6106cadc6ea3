"""Writing conmon k8s-file records, for tests that need logs no container wrote."""

import json
import time
from pathlib import Path

from runtime.containers.spec import ContainerSpec
from runtime.containers.state import ContainerState, Status, save_state
from runtime.paths import RuntimePaths

BASE = 1_796_000_000  # 2026-11-30, seconds since the epoch


def stamp(seconds: float, offset_minutes: int = 0) -> bytes:
    """conmon's time format: local time with nanoseconds and the offset."""
    whole = int(seconds // 1)
    frac = round((seconds - whole) * 1e9)
    local = time.gmtime(whole + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{frac:09d}{sign}{hh:02d}:{mm:02d}"
    return text.encode()


def record(seconds: float, stream: str, data: bytes, full: bool = True, offset: int = 0) -> bytes:
    tag = b"F" if full else b"P"
    return b"%s %s %s %s\n" % (stamp(seconds, offset), stream.encode(), tag, data)


def lines_of(stream: str, text: bytes, seconds: float, split: int = 8192) -> bytes:
    """Records for `text` as conmon writes them when it reads `split` bytes at a time."""
    out = []
    for start in range(0, len(text), split):
        piece = text[start : start + split]
        parts = piece.split(b"\n")
        for line in parts[:-1]:
            out.append(record(seconds, stream, line))
        if parts[-1]:
            out.append(record(seconds, stream, parts[-1], full=False))
    return b"".join(out)


def fake_container(paths: RuntimePaths, cid: str, status: Status = Status.exited) -> Path:
    """A container directory with spec and state and no log: its log is the test's to write."""
    directory = paths.container(cid)
    directory.mkdir(parents=True)
    (directory / "spec.json").write_text(json.dumps(ContainerSpec(args=["true"]).to_dict()))
    save_state(paths, ContainerState(id=cid, status=status))
    return directory / "container.log"
