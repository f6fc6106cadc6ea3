"""What pulls and pushes learnt, kept beside the image store under `distribution/`.

- `compressed`: the gzip blob (digest, size) a plain layer became on push, by diff_id, so a
  second push of the same layer asks the registry first instead of compressing again;
- `sources`: per registry, a repository known to hold each blob, for cross-repo mounts;
- `repo_digests`: per image id, the manifest digest each repository served or accepted
  (Docker's RepoDigests).

One JSON file, changed under an exclusive lock and replaced atomically.
"""

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from runtime.paths import RuntimePaths


@dataclass(frozen=True)
class CompressedLayer:
    digest: str
    size: int


class DistributionRecords:
    def __init__(self, paths: RuntimePaths) -> None:
        self.dir = paths.root / "distribution"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / "records.json"

    def compressed(self, diff_id: str) -> CompressedLayer | None:
        entry = self._read().get("compressed", {}).get(diff_id)
        return CompressedLayer(entry["digest"], entry["size"]) if entry else None

    def set_compressed(self, diff_id: str, layer: CompressedLayer) -> None:
        self._change(
            lambda d: d.setdefault("compressed", {}).update(
                {diff_id: {"digest": layer.digest, "size": layer.size}}
            )
        )

    def source(self, registry: str, digest: str) -> str | None:
        return self._read().get("sources", {}).get(registry, {}).get(digest)

    def set_sources(self, registry: str, repository: str, digests: list[str]) -> None:
        def change(data: dict) -> None:
            known = data.setdefault("sources", {}).setdefault(registry, {})
            known.update(dict.fromkeys(digests, repository))

        self._change(change)

    def repo_digests(self) -> dict[str, dict[str, str]]:
        """{image id: {repository name: manifest digest}}."""
        return self._read().get("repo_digests", {})

    def set_repo_digest(self, image_id: str, name: str, digest: str) -> None:
        def change(data: dict) -> None:
            data.setdefault("repo_digests", {}).setdefault(image_id, {})[name] = digest

        self._change(change)

    def forget_images(self, keep: set[str]) -> None:
        """Drop the repo digests of images that no longer exist."""

        def change(data: dict) -> None:
            digests = data.get("repo_digests", {})
            for image_id in [i for i in digests if i not in keep]:
                del digests[image_id]

        self._change(change)

    def _read(self) -> dict:
        with self._locked(shared=True):
            return self._load()

    def _load(self) -> dict:
        try:
            return json.loads(self.file.read_text())
        except FileNotFoundError:
            return {}

    def _change(self, change: Callable[[dict], None]) -> None:
        with self._locked(shared=False):
            data = self._load()
            change(data)
            fd, tmp = tempfile.mkstemp(prefix=".records-", dir=self.dir)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.file)

    @contextmanager
    def _locked(self, shared: bool) -> Iterator[None]:
        with open(self.dir / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
