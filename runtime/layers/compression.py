"""Layer tars arrive plain, gzip- or zstd-compressed; callers read them uncompressed."""

import gzip
import io
from typing import BinaryIO

import zstandard

from runtime.errors import InvalidInput

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_MEDIA_TYPES = {TAR, TAR_GZIP, TAR_ZSTD, DOCKER_TAR_GZIP}


def sniff_media_type(head: bytes) -> str:
    """Media type of a layer tar from its first bytes."""
    if head.startswith(_GZIP_MAGIC):
        return TAR_GZIP
    if head.startswith(_ZSTD_MAGIC):
        return TAR_ZSTD
    return TAR


def open_uncompressed(stream: BinaryIO) -> BinaryIO:
    """Wrap `stream` so reads give the uncompressed tar, whatever compression it used."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    media_type = sniff_media_type(buffered.peek(4)[:4])
    try:
        if media_type == TAR_GZIP:
            return gzip.GzipFile(fileobj=buffered, mode="rb")
        if media_type == TAR_ZSTD:
            return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    except (OSError, zstandard.ZstdError) as err:
        raise InvalidInput(f"cannot decompress layer: {err}") from None
    return buffered
