"""Blob files served in pieces over ASGI."""

import asyncio
import gc
import os

from registry_app import storage


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _read(path, start, length, stop_after=None) -> bytes:
    pieces = []
    stream = storage.BlobStream(path, start, length)
    async for chunk in stream:
        pieces.append(chunk)
        if stop_after is not None and len(pieces) == stop_after:
            break
    stream.close()
    return b"".join(pieces)


def test_it_serves_exactly_the_range_asked_across_chunks(tmp_path):
    data = os.urandom(storage.SERVE_CHUNK * 2 + 12345)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert asyncio.run(_read(path, 0, len(data))) == data
    start, length = storage.SERVE_CHUNK - 10, storage.SERVE_CHUNK + 20
    assert asyncio.run(_read(path, start, length)) == data[start : start + length]
    assert asyncio.run(_read(path, len(data) - 5, 5)) == data[-5:]
    assert asyncio.run(_read(path, 0, 0)) == b""


def test_a_download_starts_small_and_grows_to_full_pieces(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(storage.SERVE_CHUNK * 3))

    async def sizes() -> list[int]:
        return [len(c) async for c in storage.BlobStream(path, 0, storage.SERVE_CHUNK * 3)]

    pieces = asyncio.run(sizes())
    assert pieces[0] == storage.FIRST_PIECE
    assert pieces == sorted(pieces[:-1]) + pieces[-1:]
    assert storage.SERVE_CHUNK in pieces


def test_a_reader_that_stops_early_leaves_no_file_open(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(storage.SERVE_CHUNK * 4))
    before = _open_descriptors()
    for _ in range(5):
        first = asyncio.run(_read(path, 0, storage.SERVE_CHUNK * 4, stop_after=1))
        assert len(first) == storage.FIRST_PIECE
    assert _open_descriptors() == before


def test_a_stream_never_read_or_never_closed_leaves_no_file_open(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(storage.SERVE_CHUNK))
    # Garbage from earlier tests may still hold descriptors that this test's collection frees.
    gc.collect()
    before = _open_descriptors()
    storage.BlobStream(path, 0, storage.SERVE_CHUNK).close()
    # A client that leaves while the view runs: Django drops the response without closing it.
    storage.BlobStream(path, 0, storage.SERVE_CHUNK)
    gc.collect()
    assert _open_descriptors() == before
