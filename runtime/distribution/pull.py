"""Pulling an image: its manifest (this machine's entry of an index), then config and layers
into the blob store in parallel, each streamed, resumed with Range when the connection
breaks, and verified against its digest; then the image store records the image."""

from __future__ import annotations

import json
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import urllib3

from runtime.errors import DigestMismatch, InvalidInput, NotFound
from runtime.images.model import Image
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths
from runtime.store.blobs import BlobStore, check_digest

from .auth import repository_scope
from .client import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, RegistryClient
from .errors import AccessDenied, RegistryUnreachable
from .names import RemoteReference
from .progress import Progress, ProgressEvent, ignore, short_id
from .records import DistributionRecords

WORKERS = 3
RESUME_ATTEMPTS = 5
_READ = 1 << 20
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}
# Downloading events are sent at most this often per layer.
_REPORT_EVERY = 0.1


@dataclass(frozen=True)
class PullResult:
    image: Image
    # What the registry served for the reference: an index's digest when it sent an index.
    digest: str
    # Whether the local name now points at a different image than before.
    updated: bool


def machine_arch() -> str:
    return _ARCH.get(platform.machine(), platform.machine())


def pull(
    paths: RuntimePaths,
    client: RegistryClient,
    remote: RemoteReference,
    progress: Progress = ignore,
    workers: int = WORKERS,
) -> PullResult:
    store = ImageStore(paths)
    scopes = (repository_scope(remote.repository, "pull"),)
    previous = _image_id(store, remote.local_tag)
    content, media_type, top_digest = _manifest(client, remote, remote.reference, scopes)
    if media_type in (OCI_INDEX, DOCKER_LIST):
        child = pick_platform(json.loads(content))
        content, media_type, _ = _manifest(client, remote, child, scopes)
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise InvalidInput(f"{remote.local_name}: unsupported manifest type {media_type!r}")
    try:
        doc = json.loads(content)
        config, layers = doc["config"], doc["layers"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{remote.local_name}: the registry sent an invalid manifest") from None
    fetched: list[str] = []
    try:
        _fetch(client, store.blobs, remote.repository, config, scopes, ignore, fetched)
        _fetch_layers(
            client, store.blobs, remote.repository, layers, scopes, progress, fetched, workers
        )
        for layer in layers:
            progress(ProgressEvent(short_id(layer["digest"]), "Extracting", 0, layer["size"]))
        image = store.add_from_blobs(content, [remote.local_tag] if remote.local_tag else [])
    except BaseException:
        for digest in fetched:
            store.blobs.delete(digest)
        raise
    for layer in layers:
        progress(ProgressEvent(short_id(layer["digest"]), "Pull complete"))
    records = DistributionRecords(paths)
    records.set_repo_digest(image.id, remote.local_name, top_digest)
    records.set_sources(
        remote.registry, remote.repository, [config["digest"]] + [x["digest"] for x in layers]
    )
    return PullResult(image=image, digest=top_digest, updated=previous != image.id)


def pick_platform(index: dict) -> str:
    """The digest of the linux manifest for this machine's architecture in an index."""
    arch = machine_arch()
    for entry in index.get("manifests") or []:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == "linux" and wanted.get("architecture") == arch:
            check_digest(entry.get("digest", ""))
            return entry["digest"]
    raise NotFound(f"no matching manifest for linux/{arch} in the manifest list entries")


def _image_id(store: ImageStore, name: str | None) -> str | None:
    if not name:
        return None
    try:
        return store.get(name).id
    except NotFound:
        return None


def _manifest(client: RegistryClient, remote: RemoteReference, reference: str, scopes):
    try:
        return client.get_manifest(remote.repository, reference, scopes)
    except AccessDenied as e:
        raise AccessDenied(
            f"pull access denied for {remote.local_name}, repository does not exist or may "
            f"require 'docker login': {str(e).rpartition(': ')[2] or 'denied'}"
        ) from None
    except NotFound:
        raise NotFound(
            f"manifest for {remote.local_name}:{reference} not found: manifest unknown"
        ) from None


def _fetch_layers(client, blobs, repository, layers, scopes, progress, fetched, workers) -> None:
    missing = []
    for layer in layers:
        check_digest(layer.get("digest", ""))
        present = blobs.has(layer["digest"])
        status = "Already exists" if present else "Pulling fs layer"
        progress(ProgressEvent(short_id(layer["digest"]), status))
        if not present:
            missing.append(layer)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull")
    try:
        jobs = [
            pool.submit(_fetch, client, blobs, repository, x, scopes, progress, fetched)
            for x in missing
        ]
        for job in jobs:
            job.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fetch(client, blobs: BlobStore, repository, descriptor, scopes, progress, fetched) -> None:
    digest, size = descriptor.get("digest", ""), descriptor.get("size")
    check_digest(digest)
    if not isinstance(size, int) or size < 0:
        raise InvalidInput(f"descriptor of {digest} has no valid size")
    if blobs.has(digest):
        return
    reader = ResumingReader(client, repository, digest, size, scopes, progress)
    try:
        blobs.put(reader, expected_digest=digest)
    except DigestMismatch:
        raise DigestMismatch(
            f"filesystem layer verification failed for digest {digest}: the registry sent "
            "different content"
        ) from None
    finally:
        reader.close()
    fetched.append(digest)
    progress(ProgressEvent(short_id(digest), "Download complete"))


class ResumingReader:
    """A blob's bytes as a file; a broken connection is picked up again with a Range request."""

    def __init__(self, client, repository, digest, size, scopes, progress: Progress) -> None:
        self.client, self.repository, self.digest = client, repository, digest
        self.size, self.scopes, self.progress = size, scopes, progress
        self.offset = 0
        self.failures = 0
        self._response: urllib3.BaseHTTPResponse | None = None
        self._reported = 0.0

    def read(self, amount: int = -1) -> bytes:
        while True:
            if self._response is None:
                self._response = self.client.open_blob(
                    self.repository, self.digest, self.scopes, self.offset
                )
            try:
                chunk = self._response.read(amount if amount > 0 else _READ)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                self._broken(e)
                continue
            if not chunk and self.offset < self.size:
                self._broken("connection closed early")
                continue
            self.offset += len(chunk)
            if self.offset > self.size:
                raise DigestMismatch(f"blob {self.digest} is larger than its descriptor says")
            self._report(done=not chunk)
            return chunk

    def _broken(self, reason) -> None:
        self.close()
        self.failures += 1
        if self.failures > RESUME_ATTEMPTS:
            raise RegistryUnreachable(
                f"download of {self.digest} broke {self.failures} times, last: {reason}"
            )
        time.sleep(min(0.2 * self.failures, 2.0))

    def _report(self, done: bool) -> None:
        layer = short_id(self.digest)
        if done:
            self.progress(ProgressEvent(layer, "Verifying Checksum"))
            return
        now = time.monotonic()
        if now - self._reported >= _REPORT_EVERY or self.offset == self.size:
            self._reported = now
            self.progress(ProgressEvent(layer, "Downloading", self.offset, self.size))

    def close(self) -> None:
        if self._response is not None:
            if self.offset < self.size:
                # Unread bytes would poison the next request on this connection.
                self._response.close()
            self._response.release_conn()
            self._response = None
