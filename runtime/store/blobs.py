"""Blobs by sha256 digest under `blobs/sha256/<hex>`, written atomically and verified."""

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.errors import DigestMismatch, InvalidInput, NotFound
from runtime.paths import RuntimePaths

OCTET_STREAM = "application/octet-stream"
_CHUNK = 1 << 20
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_oci(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def check_digest(digest: str) -> str:
    """Return the hex part of a `sha256:<hex>` digest; anything else is refused."""
    if not _DIGEST.match(digest):
        raise InvalidInput(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
    return digest[len("sha256:") :]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, paths: RuntimePaths) -> None:
        self.paths = paths
        paths.blobs.mkdir(parents=True, exist_ok=True)
        paths.tmp.mkdir(parents=True, exist_ok=True)

    def put(
        self,
        data: bytes | BinaryIO,
        expected_digest: str | None = None,
        media_type: str = OCTET_STREAM,
    ) -> Descriptor:
        if expected_digest is not None:
            check_digest(expected_digest)
        hasher = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix="blob-", dir=self.paths.tmp)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                chunks = [data] if isinstance(data, bytes | bytearray) else _chunks(data)
                for chunk in chunks:
                    hasher.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = "sha256:" + hasher.hexdigest()
            if expected_digest is not None and digest != expected_digest:
                raise DigestMismatch(f"content digest {digest} does not match {expected_digest}")
            final = self.path(digest)
            if final.exists():
                tmp.unlink()
            else:
                tmp.chmod(0o644)
                os.replace(tmp, final)
                _fsync_dir(final.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Descriptor(media_type=media_type, digest=digest, size=size)

    def path(self, digest: str) -> Path:
        return self.paths.blobs / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)


def _chunks(stream: BinaryIO):
    while chunk := stream.read(_CHUNK):
        yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
