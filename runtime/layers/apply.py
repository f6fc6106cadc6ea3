"""Apply a layer tar to a directory without letting any entry reach outside it.

The tar is unpacked by a child process that chroot()s into the target first, the approach
moby took after CVE-2014-6407: whatever `..`, absolute name or symlink an entry carries,
the kernel resolves it inside the target. The child is a fresh interpreter
(`runtime.layers.untar`) rather than a bare fork() because callers run threads (Celery,
Channels) and a forked copy of a threaded process can deadlock on a lock another thread
held; moby re-executes itself for the same reason. The child also refuses hostile entries
outright so a bad image fails loudly instead of unpacking oddly.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

from runtime.errors import InvalidInput, RuntimeFailure
from runtime.layers.untar import EXIT_REFUSED

_CHUNK = 1 << 20
# What one layer may unpack to: images pulled from a registry come from users too.
MAX_UNPACKED = 10 * 1024**3
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def apply_layer(tar: Path | BinaryIO, target: Path, max_bytes: int = MAX_UNPACKED) -> None:
    """Unpack `tar` (plain, gzip or zstd) into `target`; on any error `target` is removed.

    A tar larger than `max_bytes` once uncompressed is refused (InvalidInput).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(tar, Path | str):
            with open(tar, "rb") as stream:
                _run_child(stream, target, max_bytes)
        else:
            _run_child(tar, target, max_bytes)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _run_child(stream: BinaryIO, target: Path, max_bytes: int) -> None:
    env = {"PYTHONPATH": _PACKAGE_ROOT, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "runtime.layers.untar", str(target.resolve()), str(max_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
            cwd="/",
            close_fds=True,
        )
        try:
            while chunk := stream.read(_CHUNK):
                child.stdin.write(chunk)
            child.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            child.kill()
            raise
        finally:
            code = child.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if code == EXIT_REFUSED:
        raise InvalidInput(f"refusing layer: {message}")
    if code != 0:
        last = message.splitlines()[-1] if message else f"exit status {code}"
        raise RuntimeFailure(f"failed to apply layer: {last}")
