"""COPY and ADD: which sources a step names, and the tars that put them in the image.

The tars are written to a step's container through the chrooted `put_archive`, so where a
destination resolves is decided inside the image, never on the host.
"""

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

from runtime.build.context import resolve_inside
from runtime.build.dockerfile import Instruction
from runtime.build.state import BuildFailure
from runtime.containers.spec import resolve_user

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def copy_tars(
    ins: Instruction,
    matched: list[tuple[str, Path]],
    target: str,
    dest: str,
    root: Path,
    flags: dict,
) -> list[bytes]:
    """The tars that put `matched` at `target` in the image whose rootfs is `root`."""
    uid = gid = 0
    if "chown" in flags:
        user = resolve_user(root, flags["chown"])
        uid, gid = user.uid, user.gid
    mode = int(flags["chmod"], 8) if "chmod" in flags else None
    to_dir = dest.endswith("/") or len(matched) > 1 or resolve_inside(root, target).is_dir()
    if len(matched) > 1 and not dest.endswith("/"):
        raise BuildFailure(
            f"When using {ins.command} with more than one source file, the destination "
            "must be a directory and end with a /"
        )
    base = target.strip("/")
    entries: list[tuple[tarfile.TarInfo, Path | None]] = []
    extracted: list[bytes] = []
    if (
        (to_dir or any(p.is_dir() for _, p in matched))
        and base
        and not resolve_inside(root, target).exists()
    ):
        info = tarfile.TarInfo(base)
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, gid
        entries.append((info, None))
    for rel, path in matched:
        if path.is_dir() and not path.is_symlink():
            entries += _tree_entries(path, base, uid, gid, mode)
        elif ins.command == "ADD" and _is_archive(path):
            extracted.append(_rebased_archive(path, base))
        else:
            name = f"{base}/{os.path.basename(rel)}" if to_dir else base
            entries.append((_entry(path, name.strip("/"), uid, gid, mode), path))
    return [tar_bytes([e for e, _ in entries], {id(e): p for e, p in entries}), *extracted]


def _entry(path: Path, name: str, uid: int, gid: int, mode: int | None) -> tarfile.TarInfo:
    st = os.lstat(path)
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.mtime = uid, gid, int(st.st_mtime)
    info.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        raise BuildFailure(f"cannot copy {path.name}: unsupported file type")
    return info


def _tree_entries(root: Path, base: str, uid: int, gid: int, mode: int | None) -> list:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            found.append((_entry(path, f"{base}/{rel}".strip("/"), uid, gid, mode), path))
    return found


def tar_bytes(infos: list[tarfile.TarInfo], files: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in infos:
            path = (files or {}).get(id(info))
            if info.isreg() and path is not None:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _is_archive(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def _rebased_archive(path: Path, base: str) -> bytes:
    """A local archive for ADD, with every entry moved under `base` (names checked)."""
    openers = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
    with open(path, "rb") as f:
        head = f.read(6)
    opener = next((fn for magic, fn in openers.items() if head.startswith(magic)), open)
    out = io.BytesIO()
    with (
        opener(path, "rb") as raw,
        tarfile.open(fileobj=raw, mode="r|") as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if member.name.startswith("/") or ".." in parts:
                raise BuildFailure(f"ADD refuses archive entry {member.name!r}: outside the target")
            member.name = "/".join([base, *parts]).strip("/") if parts else base
            if member.islnk():
                link = [p for p in member.linkname.split("/") if p not in ("", ".")]
                if ".." in link:
                    raise BuildFailure(f"ADD refuses hard link {member.linkname!r}")
                member.linkname = "/".join([base, *link]).strip("/")
            if not member.name:
                continue
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    return out.getvalue()
