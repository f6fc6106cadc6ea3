"""What a stream bench's container writes, and reading a docker command's whole output to
check it byte for byte (size and sha256) while timing it."""

import contextlib
import fcntl
import hashlib
import math
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1 << 20
LINE = b"a" * 1023 + b"\n"
# What the generator writes at a time.
BLOCK = 64 * 1024


def generator(nbytes: int) -> str:
    """A shell command writing `nbytes` of LINE repeated, with busybox tools only.

    `dd` cuts `yes` to the size in blocks. busybox's `head -c` copies byte by byte: writing
    100 MiB to /dev/null in a container took it 0.61 s (0.53 s of CPU) against 0.02 s, and a
    container writing them to its log with nobody attached ran 0.78 s against 0.30 s (medians
    of 5, Dockyard, 2 cores). What the stream benches measure is the platform, not busybox.
    """
    line = f"line=$(head -c {len(LINE) - 1} /dev/zero | tr '\\0' a)"
    block = math.gcd(nbytes, BLOCK)
    cut = f"dd bs={block} count={nbytes // block} iflag=fullblock 2>/dev/null"
    return f'{line}; yes "$line" | {cut}'


def generated(nbytes: int) -> Callable[[], bytes]:
    """Pieces of the generator's output, 1 MiB each but the last, as the bench feeds stdin."""
    block = LINE * (MIB // len(LINE))
    left = nbytes

    def piece() -> bytes:
        nonlocal left
        size = min(left, len(block))
        left -= size
        return block[:size]

    return piece


def digest(nbytes: int) -> str:
    h = hashlib.sha256()
    piece = generated(nbytes)
    while chunk := piece():
        h.update(chunk)
    return h.hexdigest()


@dataclass
class Expected:
    nbytes: int
    sha256: str

    @classmethod
    def of(cls, nbytes: int) -> "Expected":
        return cls(nbytes, digest(nbytes))


@dataclass
class Outcome:
    status: str  # ok, LOST, TIMEOUT or ERROR
    seconds: float = 0.0
    detail: str = ""


def stream(argv: list[str], expected: Expected, timeout: float, feed: int = 0) -> Outcome:
    """Run `argv`, read its whole stdout here, and check it against `expected`.

    With `feed`, that many bytes of the generator's output go to its stdin meanwhile.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    # A 1 MiB pipe lets the CLI write ahead while this side hashes, as a terminal would not.
    with contextlib.suppress(OSError):
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, MIB)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    errors: list[bytes] = []
    helpers = [threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)]
    if feed:

        def send() -> None:
            piece = generated(feed)
            try:
                while chunk := piece():
                    proc.stdin.write(chunk)
            except (BrokenPipeError, ValueError):
                # The CLI exited or was killed: what it returned so far is judged below.
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()

        helpers.append(threading.Thread(target=send, daemon=True))
    for helper in helpers:
        helper.start()
    h, count = hashlib.sha256(), 0
    buf = bytearray(MIB)
    view = memoryview(buf)
    while n := proc.stdout.readinto(view):
        h.update(view[:n])
        count += n
    returncode = proc.wait()
    seconds = time.perf_counter() - start
    timer.cancel()
    for helper in helpers:
        helper.join(timeout=10)
    stderr = b"".join(errors).decode(errors="replace").strip()
    if timed_out.is_set():
        return Outcome("TIMEOUT", detail=f"killed after {timeout:.0f} s with {count} bytes read")
    if count != expected.nbytes:
        return Outcome("LOST", detail=f"{count} of {expected.nbytes} bytes. {stderr}".strip())
    if h.hexdigest() != expected.sha256:
        return Outcome("LOST", detail=f"{count} bytes as expected but a different sha256")
    if returncode != 0:
        return Outcome("ERROR", detail=f"exit {returncode}: {stderr}")
    return Outcome("ok", seconds)
