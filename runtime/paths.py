"""Where a node keeps its state under DOCKYARD_ROOT and its sockets under the run dir."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuntimePaths:
    root: Path
    run: Path

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def container(self, container_id: str) -> Path:
        return self.containers / container_id

    def container_run(self, container_id: str) -> Path:
        # Short: conmon puts its attach socket here and socket paths are capped at 108 bytes.
        return self.run / "c" / container_id[:12]

    def ensure(self) -> "RuntimePaths":
        for d in (self.blobs, self.images, self.snapshots, self.containers, self.tmp, self.run):
            d.mkdir(parents=True, exist_ok=True)
        return self
