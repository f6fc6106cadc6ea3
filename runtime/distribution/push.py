"""Pushing an image: each layer the registry lacks is mounted from another repository that
holds it or uploaded (compressed with gzip first when it is stored plain), then the config,
then the manifest under the tag."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runtime.images.model import Image, LayerInfo
from runtime.images.oci import DOCKER_MANIFEST
from runtime.images.store import ImageStore
from runtime.layers.compression import DOCKER_TAR_GZIP, TAR, TAR_GZIP
from runtime.paths import RuntimePaths

from .auth import repository_scope
from .client import RegistryClient
from .errors import AccessDenied
from .names import RemoteReference
from .progress import Progress, ProgressEvent, ignore, short_id
from .records import CompressedLayer, DistributionRecords

WORKERS = 3
GZIP_LEVEL = 6
_COPY = 1 << 20
_REPORT_EVERY = 0.1


@dataclass(frozen=True)
class PushResult:
    tag: str
    digest: str
    size: int


def push(
    paths: RuntimePaths,
    client: RegistryClient,
    image_ref: str,
    remote: RemoteReference,
    progress: Progress = ignore,
    workers: int = WORKERS,
) -> PushResult:
    """Push the local image `image_ref` to `remote` (its tag names the pushed manifest)."""
    store = ImageStore(paths)
    image = store.get(image_ref)
    job = _Push(paths, store, client, image, remote, progress)
    local_manifest = json.loads(store.blobs.read(image.manifest_digest))
    for layer in image.layers:
        progress(ProgressEvent(short_id(layer.diff_id), "Preparing"))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push")
    try:
        jobs = [pool.submit(job.layer, layer, local_manifest) for layer in image.layers]
        layers = [j.result() for j in jobs]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    config = local_manifest["config"]
    job.blob(config["digest"], config["size"], lambda: store.blobs.open(config["digest"]))
    media_type = local_manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    if layers == local_manifest["layers"]:
        content = store.blobs.read(image.manifest_digest)
    else:
        content = json.dumps({**local_manifest, "layers": layers}, indent=3).encode()
    tag = remote.tag or "latest"
    try:
        digest = client.put_manifest(remote.repository, tag, content, media_type, job.scopes)
    except AccessDenied as e:
        raise _denied(remote, e) from None
    records = DistributionRecords(paths)
    records.set_repo_digest(image.id, remote.local_name, digest)
    records.set_sources(
        remote.registry, remote.repository, [config["digest"]] + [x["digest"] for x in layers]
    )
    return PushResult(tag=tag, digest=digest, size=len(content))


def _denied(remote: RemoteReference, e: Exception) -> AccessDenied:
    return AccessDenied(
        f"push to {remote.registry}/{remote.repository} denied: {str(e).rpartition(': ')[2]} "
        "(are you logged in, and may you write there?)"
    )


class _Push:
    def __init__(self, paths, store, client, image: Image, remote, progress) -> None:
        self.paths, self.store, self.client = paths, store, client
        self.image, self.remote, self.progress = image, remote, progress
        self.records = DistributionRecords(paths)
        scopes = {repository_scope(remote.repository, "pull", "push")}
        for layer in image.layers:
            known = self.records.compressed(layer.diff_id)
            for digest in (layer.digest, known.digest if known else None):
                source = digest and self.records.source(remote.registry, digest)
                if source and source != remote.repository:
                    scopes.add(repository_scope(source, "pull"))
        self.scopes = tuple(sorted(scopes))

    def exists(self, digest: str) -> bool:
        try:
            return self.client.has_blob(self.remote.repository, digest, self.scopes)
        except AccessDenied as e:
            raise _denied(self.remote, e) from None

    def layer(self, layer: LayerInfo, manifest: dict) -> dict:
        """Make sure the registry holds the layer; answers its descriptor in the manifest."""
        layer_id = short_id(layer.diff_id)
        if layer.media_type != TAR:
            reopen = functools.partial(self.store.blobs.open, layer.digest)
            self.blob(layer.digest, layer.size, reopen, layer_id)
            return {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
        gzip_type = DOCKER_TAR_GZIP if manifest.get("mediaType") == DOCKER_MANIFEST else TAR_GZIP
        known = self.records.compressed(layer.diff_id)
        if known and self.exists(known.digest):
            self.progress(ProgressEvent(layer_id, "Layer already exists"))
            return {"mediaType": gzip_type, "digest": known.digest, "size": known.size}
        path, compressed = compress(self.paths, self.store, layer)
        try:
            self.records.set_compressed(layer.diff_id, compressed)
            reopen = functools.partial(open, path, "rb")
            self.blob(compressed.digest, compressed.size, reopen, layer_id)
        finally:
            path.unlink(missing_ok=True)
        return {"mediaType": gzip_type, "digest": compressed.digest, "size": compressed.size}

    def blob(self, digest: str, size: int, open_file, layer_id: str = "") -> None:

        def report(status: str) -> None:
            if layer_id:
                self.progress(ProgressEvent(layer_id, status))

        if self.exists(digest):
            report("Layer already exists")
            return
        source = self.records.source(self.remote.registry, digest)
        mount_from = source if source and source != self.remote.repository else None
        sent = _Sent(self.progress, layer_id, size)
        try:
            mounted = self.client.upload_blob(
                self.remote.repository, digest, size, open_file, self.scopes, sent, mount_from
            )
        except AccessDenied as e:
            raise _denied(self.remote, e) from None
        report(f"Mounted from {mount_from}" if mounted else "Pushed")


class _Sent:
    """Counts bytes sent and reports `Pushing` now and then."""

    def __init__(self, progress: Progress, layer_id: str, total: int) -> None:
        self.progress, self.layer_id, self.total = progress, layer_id, total
        self.done = 0
        self.reported = 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.layer_id and (now - self.reported >= _REPORT_EVERY or self.done >= self.total):
            self.reported = now
            self.progress(ProgressEvent(self.layer_id, "Pushing", self.done, self.total))


class _HashingWriter:
    def __init__(self, f) -> None:
        self.f = f
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def compress(
    paths: RuntimePaths, store: ImageStore, layer: LayerInfo
) -> tuple[Path, CompressedLayer]:
    """gzip a plain layer into a temporary file; mtime 0 so the same tar gives the same blob."""
    fd, name = tempfile.mkstemp(prefix="push-", dir=paths.tmp)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = _HashingWriter(raw)
            packed = gzip.GzipFile(
                filename="", fileobj=writer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
            )
            with packed, store.blobs.open(layer.digest) as source:
                shutil.copyfileobj(source, packed, _COPY)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return path, CompressedLayer("sha256:" + writer.hasher.hexdigest(), writer.size)
