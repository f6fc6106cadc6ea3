"""Pieces of the OCI image format: media types, canonical JSON, chain IDs, layer digests and
the times configs carry."""

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import BinaryIO

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_CHUNK = 1 << 20


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI ChainIDs: the identity of a layer together with every layer below it."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            text = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(text).hexdigest())
    return chain


def unix_time(created: str) -> int:
    """Seconds since the epoch of an RFC 3339 time; nanosecond precision is cut to micro."""
    if not created:
        return 0
    text = re.sub(r"(\.\d{6})\d+", r"\1", created.replace("Z", "+00:00"))
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


def measure(stream: BinaryIO) -> tuple[str, int]:
    """The sha256 digest and size of everything `stream` yields."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size
