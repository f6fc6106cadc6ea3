"""Volumes with Docker's `local` driver semantics: a directory per volume on this node,
`<root>/volumes/<name>/_data`, bind-mounted into containers.

A new, empty volume takes a copy of what the container's image holds at the mount path
(Docker's copy-up). The copy runs in a child chrooted into the container's rootfs, so the
image's symlinks resolve inside it and never reach the host; the child writes through a
directory fd of the volume, opened before the chroot, with relative names it made itself.
"""

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InvalidInput, NotFound, RuntimeFailure
from runtime.paths import RuntimePaths

# Docker's rule for volume names.
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_COPY_CHUNK = 1 << 20


@dataclass
class VolumeInfo:
    name: str
    mountpoint: str


def volumes_dir(paths: RuntimePaths) -> Path:
    return paths.root / "volumes"


def data_dir(paths: RuntimePaths, name: str) -> Path:
    if not NAME.match(name):
        raise InvalidInput(
            f'"{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
        )
    return volumes_dir(paths) / name / "_data"


def create(paths: RuntimePaths, name: str) -> VolumeInfo:
    """Make the volume's directory; an existing one is kept as it is (Docker's create is
    idempotent for the same name)."""
    data = data_dir(paths, name)
    data.mkdir(parents=True, exist_ok=True)
    return VolumeInfo(name=name, mountpoint=str(data))


def remove(paths: RuntimePaths, name: str) -> None:
    """Delete the volume and everything in it; a missing one is already gone."""
    top = data_dir(paths, name).parent
    if not top.exists():
        return
    # Renamed first so a half-deleted volume is never found under its name again.
    doomed = top.with_name(f".removing-{name}")
    os.rename(top, doomed)
    shutil.rmtree(doomed)


def size(paths: RuntimePaths, name: str) -> int:
    """Bytes the volume's regular files hold; symlinks are not followed."""
    total = 0
    top = data_dir(paths, name)
    for dirpath, _, files in os.walk(top):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def sizes(paths: RuntimePaths, names: list[str]) -> dict[str, int]:
    out = {}
    for name in names:
        try:
            out[name] = size(paths, name)
        except InvalidInput:
            continue
    return out


def is_empty(paths: RuntimePaths, name: str) -> bool:
    try:
        return not any(os.scandir(data_dir(paths, name)))
    except FileNotFoundError:
        return True


def copy_up(paths: RuntimePaths, name: str, rootfs: Path, destination: str) -> None:
    """Copy what the rootfs holds at `destination` into the volume, if the volume is empty
    and the path is a directory there; owners, modes and times are kept."""
    if not is_empty(paths, name):
        return
    data = data_dir(paths, name)
    if not data.is_dir():
        raise NotFound(f"get {name}: no such volume")
    vol_fd = os.open(data, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    result_r, result_w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            _copy_child(vol_fd, str(rootfs), destination, result_w)
        os.close(result_w)
        with os.fdopen(result_r, "rb") as f:
            reply = f.read()
        os.waitpid(pid, 0)
    finally:
        os.close(vol_fd)
    outcome = json.loads(reply or b'{"error": "copy-up failed"}')
    if "error" in outcome:
        raise RuntimeFailure(f"copying image content into volume {name}: {outcome['error']}")


def _copy_child(vol_fd: int, root: str, destination: str, result_fd: int) -> None:
    code = 0
    try:
        os.chroot(root)
        # The volume is reached through the working directory, outside the chroot: every
        # name written below is relative and made here, so none can lead elsewhere.
        os.fchdir(vol_fd)
        _copy_tree(os.path.normpath("/" + destination))
        outcome: dict = {"ok": True}
    except BaseException as err:
        code = 1
        outcome = {"error": str(err) or type(err).__name__}
    try:
        os.write(result_fd, json.dumps(outcome).encode())
    finally:
        os._exit(code)


def _copy_tree(source: str) -> None:
    try:
        top = os.lstat(source)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = os.path.relpath(dirpath, source)
        for entry in [*dirnames, *filenames]:
            src = os.path.join(dirpath, entry)
            dst = os.path.normpath(os.path.join(rel_dir, entry))
            _copy_entry(src, dst)
    _keep_metadata(source, ".", top)


def _copy_entry(src: str, dst: str) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with (
            open(os.open(src, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fin,
            open(os.open(dst, flags, 0o600), "wb") as fout,
        ):
            shutil.copyfileobj(fin, fout, _COPY_CHUNK)
    else:
        # Device nodes, fifos and sockets are not data a volume carries.
        return
    _keep_metadata(src, dst, st)


def _keep_metadata(src: str, dst: str, st: os.stat_result) -> None:
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    # Directories' times are set after their content, which would otherwise change them;
    # os.walk is top-down, so this keeps files' times and approximates directories'.
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
