"""Reading an image archive's members without trusting it: size caps against decompression
bombs, entry names and links kept inside the archive, layers whose compression matches
what they claim."""

import json
import os
import tarfile
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.layers.compression import (
    DOCKER_TAR_GZIP,
    TAR,
    TAR_GZIP,
    TAR_ZSTD,
    open_uncompressed,
    sniff_media_type,
)

DEFAULT_MAX_ARCHIVE = 10 * 1024**3
MAX_MANIFEST = 4 * 1024 * 1024
CHUNK = 1 << 20
_MAX_LINK_HOPS = 8
_COMPRESSION_OF = {TAR: TAR, TAR_GZIP: TAR_GZIP, DOCKER_TAR_GZIP: TAR_GZIP, TAR_ZSTD: TAR_ZSTD}


class CappedReader:
    """A stream that refuses to give more than `limit` bytes (decompression bombs)."""

    def __init__(self, stream: BinaryIO, limit: int, what: str) -> None:
        self.stream = stream
        self.limit = limit
        self.what = what
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise InvalidInput(f"{self.what} is larger than the limit of {self.limit} bytes")
        return data

    def readable(self) -> bool:
        return True


def safe_members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    found = {}
    for member in tar.getmembers():
        name = clean(member.name)
        if member.name.startswith("/") or ".." in name.split("/"):
            raise InvalidInput(f"image archive entry {member.name!r} points outside the archive")
        if member.issym() or member.islnk():
            target = member.linkname
            if member.issym():
                target = os.path.join(os.path.dirname(name), target)
            if target.startswith("/") or os.path.normpath(target).startswith(".."):
                raise InvalidInput(f"image archive entry {member.name!r} links outside the archive")
        if member.isreg() or member.issym() or member.islnk():
            found[name] = member
    return found


def clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def read_member(tar: tarfile.TarFile, members: dict, name: str) -> BinaryIO:
    """A member's content; links inside the archive (older `docker save`) are followed."""
    wanted = clean(name)
    if ".." in wanted.split("/"):
        raise InvalidInput(f"image archive names {name!r}, outside the archive")
    for _ in range(_MAX_LINK_HOPS):
        member = members.get(wanted)
        if member is None:
            raise InvalidInput(f"image archive is missing {name!r}")
        if member.isreg():
            return tar.extractfile(member)
        if member.islnk():
            wanted = clean(member.linkname)
        else:
            wanted = clean(os.path.normpath(os.path.join(os.path.dirname(wanted), member.linkname)))
    raise InvalidInput(f"image archive entry {name!r} has too many links")


def read_json(tar: tarfile.TarFile, members: dict, name: str, limit: int = MAX_MANIFEST):
    data = read_member(tar, members, name).read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"image archive member {name!r} is larger than {limit} bytes")
    try:
        return json.loads(data)
    except ValueError:
        raise InvalidInput(f"image archive has an invalid {name!r}") from None


def check_layer(stream: BinaryIO, max_bytes: int, declared: str | None = None) -> None:
    """Refuse a layer whose compression lies about its media type or that unpacks too big."""
    head = stream.read(4)
    if declared is not None and _COMPRESSION_OF.get(declared) != sniff_media_type(head):
        raise InvalidInput(
            f"layer declared as {declared} is {sniff_media_type(head)}: refusing a lying media type"
        )
    stream.seek(0)
    capped = CappedReader(open_uncompressed(stream), max_bytes, "unpacked layer")
    try:
        while capped.read(CHUNK):
            pass
    except (OSError, EOFError) as err:
        raise InvalidInput(f"layer cannot be decompressed: {err}") from None
