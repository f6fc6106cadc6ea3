"""Build cache tasks (builds themselves stream through the node agent)."""

from dataclasses import asdict

from runtime.build import cache
from runtime.containers import lifecycle
from runtime.paths import RuntimePaths

from .base import runtime_task

__all__ = ["prune_build_cache", "node_disk_usage"]


@runtime_task
def prune_build_cache(paths: RuntimePaths) -> dict:
    entries, reclaimed = cache.prune(paths)
    return {"entries": entries, "reclaimed": reclaimed}


def _tree_size(path) -> int:
    total = 0
    for entry in path.rglob("*") if path.is_dir() else []:
        try:
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


@runtime_task
def node_disk_usage(paths: RuntimePaths) -> dict:
    """Bytes each container wrote (its upperdir) and the build cache's usage."""
    containers = {
        cid: _tree_size(paths.container(cid) / "upper") for cid in lifecycle.list_ids(paths)
    }
    return {"containers": containers, "build_cache": asdict(cache.usage(paths))}
