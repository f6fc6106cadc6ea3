import hashlib
import io

import pytest

from runtime.errors import DigestMismatch, InvalidInput, NotFound
from runtime.store.blobs import BlobStore


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_it_stores_content_under_its_digest(runtime_paths):
    blobs = BlobStore(runtime_paths)

    desc = blobs.put(b"hello", media_type="text/plain")

    assert desc.digest == digest_of(b"hello")
    assert desc.size == 5
    assert desc.media_type == "text/plain"
    assert blobs.path(desc.digest) == runtime_paths.blobs / desc.digest[7:]
    assert blobs.has(desc.digest)
    with blobs.open(desc.digest) as f:
        assert f.read() == b"hello"


def test_it_accepts_streams_and_the_right_expected_digest(runtime_paths):
    blobs = BlobStore(runtime_paths)
    data = b"x" * (3 << 20)

    desc = blobs.put(io.BytesIO(data), expected_digest=digest_of(data))

    assert desc.size == len(data)
    assert blobs.read(desc.digest) == data


def test_it_is_idempotent(runtime_paths):
    blobs = BlobStore(runtime_paths)

    first = blobs.put(b"same")
    second = blobs.put(io.BytesIO(b"same"))

    assert first == second
    assert list(runtime_paths.blobs.iterdir()) == [blobs.path(first.digest)]


def test_it_rejects_a_wrong_digest_and_leaves_nothing(runtime_paths):
    blobs = BlobStore(runtime_paths)
    claimed = digest_of(b"what was promised")

    with pytest.raises(DigestMismatch, match="does not match"):
        blobs.put(b"what arrived", expected_digest=claimed)

    assert not blobs.has(claimed)
    assert not blobs.has(digest_of(b"what arrived"))
    assert list(runtime_paths.blobs.iterdir()) == []
    assert list(runtime_paths.tmp.iterdir()) == []


def test_it_refuses_malformed_digests(runtime_paths):
    blobs = BlobStore(runtime_paths)

    with pytest.raises(InvalidInput):
        blobs.path("sha256:../../etc/passwd")
    with pytest.raises(InvalidInput):
        blobs.put(b"x", expected_digest="md5:abc")


def test_it_deletes_and_reports_missing_blobs(runtime_paths):
    blobs = BlobStore(runtime_paths)
    desc = blobs.put(b"gone soon")

    blobs.delete(desc.digest)

    assert not blobs.has(desc.digest)
    with pytest.raises(NotFound):
        blobs.open(desc.digest)
