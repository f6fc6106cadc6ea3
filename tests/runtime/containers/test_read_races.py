"""Reading a running container's files while it swaps its paths under the reader.

Every test here is the attack: a container loops swapping its directory /d with something
else the test laid out beside it (a symlink to a host directory, a directory of the host's
block devices, a directory of FIFOs), while `docker cp` (`get_archive`, `stat_path`),
`docker diff` (`changes`) and `docker commit` (`write_layer`, `commit_container`) read it
again and again. Nothing the host holds outside the container may come back, no device may
be read, no FIFO may block a reader. Each race runs a bounded number of rounds or a few
seconds, whichever ends first.
"""

import functools
import io
import os
import stat
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.containers import archive, lifecycle, pathstat
from runtime.containers.commit import commit_container
from runtime.errors import NotFound
from runtime.images.store import ImageStore
from runtime.layers.changes import changes
from runtime.layers.export import write_layer
from tests.runtime.layers.tars import make_tar

pytestmark = pytest.mark.privileged

RACE_SECONDS = 3.0
RACE_ROUNDS = 300
READY_TIMEOUT = 15.0
FILES = 64
FILE_SIZE = 4096
# Files the walks go through before they reach /d: the longer a walk takes between listing
# a directory and reading what it listed, the more swaps land in between.
PADDING = 300


def forever(*commands: str) -> str:
    return "while :; do " + "; ".join(commands) + "; done"


# /d and what the test put at /d.other trade places, with moments where /d is missing.
SWAP = forever(
    "busybox mv d d.real", "busybox mv d.other d", "busybox mv d d.other", "busybox mv d.real d"
)
# /l is always there: a symlink turned at once from /e.files to /e.other and back.
FLIP = forever(
    "ln -s e.other l.new",
    "busybox mv -T l.new l",
    "ln -s e.files l.new",
    "busybox mv -T l.new l",
)


def race(read: Callable[[], bytes], seconds: float = RACE_SECONDS) -> Iterator[bytes]:
    """What `read` returns, round after round, until the rounds or the seconds run out."""
    deadline = time.monotonic() + seconds
    for _ in range(RACE_ROUNDS):
        if time.monotonic() > deadline:
            return
        try:
            yield read()
        except NotFound:
            # The path was between its two names at that moment.
            continue


def wait_for(path: Path, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout:g} s")
        time.sleep(0.01)


def swapping_container(runtime_paths, containers, other: Callable[[Path], None]) -> str:
    """A started container swapping its regular files with what `other` makes, two ways."""
    cid = containers("sh", "-c", f"cd / && ({SWAP}) & ({FLIP}) & touch /ready && wait")
    upper = runtime_paths.container(cid) / "upper"
    (upper / "c").mkdir(parents=True)
    for n in range(PADDING):
        (upper / "c" / f"p{n:03}").write_bytes(b"p")
    for regular in ("d", "e.files"):
        (upper / regular).mkdir()
        for n in range(FILES):
            (upper / regular / f"f{n:02}").write_bytes(b"r" * FILE_SIZE)
    other(upper / "d.other")
    other(upper / "e.other")
    (upper / "l").symlink_to("e.files")
    lifecycle.start(runtime_paths, cid)
    wait_for(upper / "ready")
    return cid


def upper_of(runtime_paths, cid: str) -> Path:
    return runtime_paths.container(cid) / "upper"


def tar_of(runtime_paths, cid: str, path: str) -> bytes:
    _, chunks = archive.get_archive(runtime_paths, cid, path)
    return b"".join(chunks)


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def layer_of(upper: Path) -> bytes:
    out = io.BytesIO()
    write_layer(upper, out)
    return out.getvalue()


def diff_of(upper: Path, lowerdir: Path) -> bytes:
    return "\n".join(c.path for c in changes(upper, [lowerdir])).encode()


@pytest.fixture
def host_secret(tmp_path) -> tuple[Path, bytes]:
    """A host directory no container may read: its file's name and content are the marker."""
    marker = f"host-secret-{uuid.uuid4().hex}".encode()
    secret_dir = tmp_path / "host-only"
    secret_dir.mkdir()
    (secret_dir / marker.decode()).write_bytes(marker * 128)
    return secret_dir, marker


@pytest.fixture
def marked_block_device(tmp_path) -> Iterator[tuple[int, bytes]]:
    """A host block device (a loop device over a file) whose every block holds a marker."""
    marker = f"host-disk-{uuid.uuid4().hex}".encode()
    backing = tmp_path / "disk.img"
    backing.write_bytes((marker * (1 + (1 << 20) // len(marker)))[: 1 << 20])
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        pytest.skip(f"no loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        yield os.stat(device).st_rdev, marker
    finally:
        subprocess.run(["losetup", "--detach", device], capture_output=True)


def readers(runtime_paths, cid: str, lowerdir: Path) -> list[Callable[[], bytes]]:
    """Every way of reading the container's files, each giving bytes to search."""
    upper = upper_of(runtime_paths, cid)
    return [
        lambda: tar_of(runtime_paths, cid, "/d"),
        lambda: tar_of(runtime_paths, cid, "/d/f03"),
        lambda: tar_of(runtime_paths, cid, "/l/"),
        lambda: tar_of(runtime_paths, cid, "/l/f03"),
        lambda: repr(pathstat.stat_path(runtime_paths, cid, "/l/f03")).encode(),
        lambda: tar_of(runtime_paths, cid, "/"),
        lambda: layer_of(upper),
        lambda: diff_of(upper, lowerdir),
    ]


def kinds_seen(runtime_paths, cid: str, path: str) -> set[str]:
    """The kinds of entry reads of `path` met below its top, over one race."""
    seen: set[str] = set()
    for got in race(lambda: tar_of(runtime_paths, cid, path), RACE_SECONDS / 2):
        for m in members(got)[1:]:
            seen.add(
                "file" if m.isfile() else "device" if m.isblk() else "fifo" if m.isfifo() else ""
            )
    return seen


def test_cve_2018_15664_symlink_swaps_never_reach_host_files(
    runtime_paths, containers, lowerdir, host_secret
):
    """CVE-2018-15664: /d turns into a symlink to a host directory while it is read, and /l
    from a symlink to a directory of the container into one to that host directory."""
    secret_dir, marker = host_secret
    cid = swapping_container(runtime_paths, containers, lambda p: p.symlink_to(secret_dir))

    tops = set()
    for got in race(lambda: tar_of(runtime_paths, cid, "/d"), RACE_SECONDS / 2):
        assert marker not in got
        tops.add("link" if members(got)[0].issym() else "dir")
    for read in readers(runtime_paths, cid, lowerdir):
        for got in race(read, RACE_SECONDS / 2):
            assert marker not in got
    secret = f"/d/{marker.decode()}"
    for read in (
        lambda: tar_of(runtime_paths, cid, secret),
        lambda: pathstat.stat_path(runtime_paths, cid, secret).name.encode(),
    ):
        for got in race(read, RACE_SECONDS / 4):
            raise AssertionError(f"{secret} was found: {got[:200]!r}")
    # The reads met /d both ways, so the race was really run.
    assert tops == {"link", "dir"}


def test_a_file_swapped_for_a_host_device_is_never_read(
    runtime_paths, containers, lowerdir, marked_block_device
):
    """Regular files trade places with block devices of the host (an image layer can carry
    them, and Docker's default device rule lets a container mknod them): only their headers
    may come out, never a byte of the disk."""
    rdev, marker = marked_block_device

    def devices(path: Path) -> None:
        path.mkdir()
        for n in range(FILES):
            os.mknod(path / f"f{n:02}", stat.S_IFBLK | 0o600, rdev)

    cid = swapping_container(runtime_paths, containers, devices)

    for read in readers(runtime_paths, cid, lowerdir):
        for got in race(read, RACE_SECONDS / 2):
            assert marker not in got
    assert kinds_seen(runtime_paths, cid, "/l/") == {"file", "device"}


def test_a_fifo_swapped_in_never_blocks_a_read(runtime_paths, containers, lowerdir):
    def fifos(path: Path) -> None:
        path.mkdir()
        for n in range(FILES):
            os.mkfifo(path / f"f{n:02}")

    cid = swapping_container(runtime_paths, containers, fifos)
    finished = threading.Event()
    failures: list[BaseException] = []

    def read_all() -> None:
        try:
            for read in readers(runtime_paths, cid, lowerdir):
                for _ in race(read, RACE_SECONDS / 4):
                    pass
        except BaseException as e:
            failures.append(e)
        finally:
            finished.set()

    # A reader blocked in open() on a FIFO would never come back: it runs in a thread the
    # test can give up on.
    threading.Thread(target=read_all, daemon=True).start()
    assert finished.wait(3 * RACE_SECONDS + 30), "a read blocked on a FIFO"
    assert failures == []
    assert kinds_seen(runtime_paths, cid, "/l/") == {"file", "fifo"}


def test_devices_and_fifos_named_directly_are_archived_as_headers(
    runtime_paths, containers, marked_block_device
):
    rdev, marker = marked_block_device
    cid = containers("true")
    upper = upper_of(runtime_paths, cid)
    os.mknod(upper / "disk", stat.S_IFBLK | 0o600, rdev)
    os.mkfifo(upper / "pipe")

    disk = members(tar_of(runtime_paths, cid, "/disk"))
    assert [(m.name, m.isblk(), m.size) for m in disk] == [("disk", True, 0)]
    assert [m.isfifo() for m in members(tar_of(runtime_paths, cid, "/pipe"))] == [True]
    assert marker not in tar_of(runtime_paths, cid, "/")
    assert marker not in layer_of(upper)
    assert pathstat.stat_path(runtime_paths, cid, "/disk").mode & pathstat.GO_DEVICE


def test_cve_2018_15664_commit_of_a_swapping_container_keeps_host_files_out(
    runtime_paths, containers, host_secret
):
    secret_dir, marker = host_secret
    cid = swapping_container(runtime_paths, containers, lambda p: p.symlink_to(secret_dir))
    store = ImageStore(runtime_paths)
    parent = store.add_image([io.BytesIO(make_tar({"name": "etc/motd", "data": b"x"}))], {})

    def commit_once(pause: bool) -> bytes:
        return commit_container(runtime_paths, cid, parent.id, pause=pause).id.encode()

    commits = 0
    for pause in (False, True):
        for _ in race(functools.partial(commit_once, pause), RACE_SECONDS / 2):
            commits += 1
    assert commits > 2
    # Layers are stored uncompressed, and unpacked into snapshots: search both.
    for blob in runtime_paths.blobs.iterdir():
        assert marker not in blob.read_bytes()
    for dirpath, dirnames, filenames in os.walk(runtime_paths.snapshots):
        assert all(marker.decode() not in name for name in dirnames + filenames)
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                assert marker not in path.read_bytes()
