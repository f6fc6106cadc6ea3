"""Build small layer tars for tests, entry by entry, exactly as written (no filtering)."""

import gzip
import io
import tarfile

import zstandard

_KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def make_tar(*entries: dict, compression: str = "") -> bytes:
    """Each entry: name, kind (default file), data, mode, uid, gid, linkname, xattrs, dev."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            kind = entry.get("kind", "file")
            info = tarfile.TarInfo(entry["name"])
            info.type = _KINDS[kind]
            info.mode = entry.get("mode", 0o755 if kind == "dir" else 0o644)
            info.uid, info.gid = entry.get("uid", 0), entry.get("gid", 0)
            info.mtime = entry.get("mtime", 1_700_000_000)
            info.linkname = entry.get("linkname", "")
            if "dev" in entry:
                info.devmajor, info.devminor = entry["dev"]
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.get("xattrs", {}).items()}
            data = entry.get("data", b"")
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    raw = buf.getvalue()
    if compression == "gzip":
        return gzip.compress(raw)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()
