"""probe.c, built static for the busybox-only test images: one system call a command."""

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("probe.c")

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
AF_UNIX, AF_INET, AF_INET6, AF_VSOCK = 1, 2, 10, 40
SOCK_STREAM, SOCK_DGRAM = 1, 2
# personality(2): 0xffffffff only asks for the current one; ADDR_NO_RANDOMIZE turns ASLR off.
PERSONALITY_QUERY = 0xFFFFFFFF
ADDR_NO_RANDOMIZE = 0x0040000


def build_probe(directory: Path) -> Path:
    """The probe binary in `directory`; skips the test when there is no C compiler
    (scripts/setup.py installs gcc and libc6-dev)."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc to build the probe")
    binary = directory / "probe"
    subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(binary), str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary
