"""Unpacked layers: one directory per chain ID under `snapshots/`, shared by every image whose
layers start with that chain, unpacked on first use and removed with the last image."""

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.images.model import Image
from runtime.images.oci import chain_ids
from runtime.layers.apply import apply_layer
from runtime.paths import RuntimePaths
from runtime.store.blobs import BlobStore


class Snapshots:
    def __init__(self, paths: RuntimePaths, blobs: BlobStore) -> None:
        self.paths = paths
        self.blobs = blobs
        paths.snapshots.mkdir(parents=True, exist_ok=True)

    def dirs(self, image: Image) -> list[Path]:
        """Unpacked layer directories, top-most first (overlay lowerdir order)."""
        dirs = []
        for layer, chain in zip(
            image.layers, chain_ids([x.diff_id for x in image.layers]), strict=True
        ):
            hex_id = chain.removeprefix("sha256:")
            final = self.paths.snapshots / hex_id
            if not final.is_dir():
                with self._lock(hex_id):
                    if not final.is_dir():
                        staging = self.paths.snapshots / f".unpack-{hex_id[:12]}-{uuid.uuid4().hex}"
                        apply_layer(self.blobs.path(layer.digest), staging)
                        os.rename(staging, final)
            dirs.append(final)
        return dirs[::-1]

    def remove(self, chain: str) -> None:
        """Delete the directory of one chain, waiting for an unpack of it to finish."""
        hex_id = chain.removeprefix("sha256:")
        with self._lock(hex_id):
            shutil.rmtree(self.paths.snapshots / hex_id, ignore_errors=True)

    @contextmanager
    def _lock(self, hex_id: str) -> Iterator[None]:
        with open(self.paths.snapshots / f".{hex_id}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield
