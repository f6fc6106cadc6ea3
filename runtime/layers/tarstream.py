"""A tar archive produced piece by piece, for streams that must not hold a whole file.

`tarfile` in "w|" mode copies a member's whole content in one `addfile` call, so a caller that
yields the archive as it goes would buffer each file whole. This writes the same bytes as
`tarfile` (its own header encoding, the same end-of-archive padding) but hands out every
piece as soon as it exists.
"""

import tarfile
from collections.abc import Iterable, Iterator

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


class TarStream:
    def __init__(self) -> None:
        self.offset = 0

    def _count(self, data: bytes) -> bytes:
        self.offset += len(data)
        return data

    def header(self, info: tarfile.TarInfo) -> bytes:
        """The header blocks of `info` (PAX extended headers included when needed)."""
        return self._count(info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape"))

    def member(self, info: tarfile.TarInfo, content: Iterable[bytes] = ()) -> Iterator[bytes]:
        """Header and content of one member; `content` must add up to `info.size` bytes."""
        yield self.header(info)
        written = 0
        for piece in content:
            written += len(piece)
            yield self._count(piece)
        if written != info.size:
            raise ValueError(f"{info.name}: {written} bytes written for a size of {info.size}")
        if rest := written % BLOCK:
            yield self._count(bytes(BLOCK - rest))

    def end(self) -> bytes:
        """Two zero blocks, then zeros up to a whole record, as tarfile closes an archive."""
        tail = bytes(2 * BLOCK)
        if rest := (self.offset + len(tail)) % RECORD:
            tail += bytes(RECORD - rest)
        return self._count(tail)
