"""Loaded with `-p tests.testenv` before Django settings: every test run gets its own state.

Sets DOCKYARD_ROOT and DOCKYARD_RUN_DIR to fresh temporary directories (unless the caller
set them) and removes them at the end, unmounting anything a failed test left inside.
"""

import ctypes
import os
import shutil
import tempfile
from pathlib import Path

_created: list[Path] = []

if not os.environ.get("DOCKYARD_ROOT"):
    root = Path(tempfile.mkdtemp(prefix="dockyard-test-"))
    _created.append(root)
    os.environ["DOCKYARD_ROOT"] = str(root)
if not os.environ.get("DOCKYARD_RUN_DIR"):
    # Short on purpose: unix socket paths inside it must stay under 108 bytes.
    run = Path(tempfile.mkdtemp(prefix="dyt-", dir="/tmp"))
    _created.append(run)
    os.environ["DOCKYARD_RUN_DIR"] = str(run)
os.environ.setdefault("DJANGO_SECRET_KEY", "dockyard-tests")

_MNT_DETACH = 2


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def pytest_unconfigure(config):
    libc = ctypes.CDLL(None, use_errno=True)
    for path in _created:
        for point in _mounts_under(path):
            libc.umount2(point.encode(), _MNT_DETACH)
        shutil.rmtree(path, ignore_errors=True)
