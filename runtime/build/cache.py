"""The build cache: which image config and layers a step produced from a given parent.

Kept under `<root>/build-cache/` as one JSON file per key, written atomically. An entry is
only trusted while every layer blob it names is still in the blob store.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.images.model import LayerInfo
from runtime.images.oci import chain_ids
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths


def cache_dir(paths: RuntimePaths) -> Path:
    return paths.root / "build-cache"


def cache_key(parent_id: str, instruction: str, sources: list[str], scope: str = "") -> str:
    """The key of a step; `scope` keeps one user's steps apart from another's (the empty
    scope gives the keys this cache had before scopes, so they stay valid)."""
    parts = [parent_id, instruction, sources] + ([scope] if scope else [])
    text = json.dumps(parts, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheEntry:
    config: dict
    layers: list[LayerInfo]


class BuildCache:
    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self.root = cache_dir(store.paths) / "steps"
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> CacheEntry | None:
        try:
            data = json.loads((self.root / f"{key}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        layers = [LayerInfo(**x) for x in data["layers"]]
        if not all(self.store.blobs.has(x.digest) for x in layers):
            return None
        return CacheEntry(data["config"], layers)

    def put(self, key: str, entry: CacheEntry) -> None:
        value = {"config": entry.config, "layers": [asdict(x) for x in entry.layers]}
        fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=self.root)
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, self.root / f"{key}.json")


@dataclass
class CacheUsage:
    entries: int
    size: int
    reclaimable: int


def _entries(paths: RuntimePaths) -> list[dict]:
    found = []
    for path in (cache_dir(paths) / "steps").glob("*.json"):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def _unshared_layers(store: ImageStore, entries: list[dict]) -> dict[str, int]:
    """Layer blobs only the cache holds (no image uses them), with their sizes."""
    in_images = {layer.digest for image in store.list() for layer in image.layers}
    only_cache: dict[str, int] = {}
    for entry in entries:
        for layer in entry["layers"]:
            if layer["digest"] not in in_images and store.blobs.has(layer["digest"]):
                only_cache[layer["digest"]] = layer["size"]
    return only_cache


def usage(paths: RuntimePaths) -> CacheUsage:
    store = ImageStore(paths)
    entries = _entries(paths)
    only_cache = _unshared_layers(store, entries)
    return CacheUsage(len(entries), sum(only_cache.values()), sum(only_cache.values()))


def prune(paths: RuntimePaths) -> tuple[int, int]:
    """Forget every cached step and delete the layers only the cache kept; (entries, bytes)."""
    store = ImageStore(paths)
    entries = _entries(paths)
    only_cache = _unshared_layers(store, entries)
    for path in (cache_dir(paths) / "steps").glob("*.json"):
        path.unlink(missing_ok=True)
    in_use = {c for image in store.list() for c in chain_ids(image.config["rootfs"]["diff_ids"])}
    for entry in entries:
        diff_ids = entry["config"].get("rootfs", {}).get("diff_ids", [])
        for chain in chain_ids(diff_ids):
            if chain not in in_use:
                store.snapshots.remove(chain)
    for digest in only_cache:
        store.blobs.delete(digest)
    return len(entries), sum(only_cache.values())
