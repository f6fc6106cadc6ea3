"""Container tasks."""

from dataclasses import asdict

from runtime import volumes
from runtime.containers import (
    archive,
    attach,
    layout,
    lifecycle,
    listing,
    logs,
    pathstat,
    resources,
    top,
)
from runtime.containers.commit import commit_container as commit
from runtime.containers.ocimounts import ETC_FILES
from runtime.containers.spec import ContainerSpec
from runtime.images.store import ImageStore
from runtime.layers.changes import changes
from runtime.paths import RuntimePaths

from .base import runtime_task
from .networks import namespace_for, release_container_network, setup_container_network


@runtime_task
def create_container(
    paths: RuntimePaths, cid: str, image_id: str, spec: dict, network: dict | None = None
) -> dict:
    store = ImageStore(paths)
    lowerdirs = store.snapshots.dirs(store.get(image_id))
    spec = {**spec, **namespace_for(paths, cid, network)}
    mounts = [_with_source(paths, m) for m in spec.get("mounts") or []]
    state = lifecycle.create(paths, cid, ContainerSpec(**{**spec, "mounts": mounts}), lowerdirs)
    try:
        for m in mounts:
            if m.get("volume") and m.get("copy_up"):
                volumes.copy_up(paths, m["volume"], layout.rootfs(paths, cid), m["destination"])
    except BaseException:
        lifecycle.remove(paths, cid, True)
        raise
    return asdict(state)


def _with_source(paths: RuntimePaths, mount: dict) -> dict:
    """A volume mount names its volume; the node knows where that volume lives, and makes
    it on first use as Docker does."""
    if not mount.get("volume"):
        return mount
    return {**mount, "source": volumes.create(paths, mount["volume"]).mountpoint}


@runtime_task
def start_container(
    paths: RuntimePaths, cid: str, network: dict | None = None, link_env: list[str] | None = None
) -> dict:
    attached = setup_container_network(paths, cid, network) if network else None
    # Attach streams output written from this offset on, so nothing between attach and start
    # is lost.
    offset = logs.log_offset(paths, cid)
    state = lifecycle.start(paths, cid, link_env)
    return {"state": asdict(state), "log_offset": offset, "network": attached}


@runtime_task
def stop_container(paths: RuntimePaths, cid: str, timeout: int, signal: str | None) -> dict:
    return asdict(lifecycle.stop(paths, cid, timeout, signal))


@runtime_task
def kill_container(paths: RuntimePaths, cid: str, signal: str) -> dict:
    return asdict(lifecycle.kill(paths, cid, signal))


@runtime_task
def pause_container(paths: RuntimePaths, cid: str) -> dict:
    return asdict(lifecycle.pause(paths, cid))


@runtime_task
def unpause_container(paths: RuntimePaths, cid: str) -> dict:
    return asdict(lifecycle.unpause(paths, cid))


@runtime_task
def remove_container(paths: RuntimePaths, cid: str, force: bool) -> None:
    lifecycle.remove(paths, cid, force)
    release_container_network(paths, cid)


@runtime_task
def resize_container(paths: RuntimePaths, cid: str, height: int, width: int) -> None:
    attach.resize(paths, cid, height, width)


@runtime_task
def container_top(paths: RuntimePaths, cid: str, ps_args: str) -> dict:
    titles, processes = top.top(paths, cid, ps_args)
    return {"Titles": titles, "Processes": processes}


@runtime_task
def container_changes(paths: RuntimePaths, cid: str, image_id: str) -> list[dict]:
    store = ImageStore(paths)
    lowerdirs = store.snapshots.dirs(store.get(image_id))
    upper = paths.container(cid) / "upper"
    hidden = [f"/etc/{name}" for name in ETC_FILES]
    return [{"Path": c.path, "Kind": c.kind} for c in changes(upper, lowerdirs, hidden)]


@runtime_task
def container_path_stat(paths: RuntimePaths, cid: str, path: str) -> dict:
    return pathstat.stat_path(paths, cid, path).to_docker()


@runtime_task
def container_list_dir(paths: RuntimePaths, cid: str, path: str, limit: int) -> list[dict]:
    return [asdict(e) for e in listing.list_directory(paths, cid, path, limit)]


@runtime_task
def container_tree_size(paths: RuntimePaths, cid: str, path: str, stop_after: int) -> int:
    return archive.tree_size(paths, cid, path, stop_after)


@runtime_task
def commit_container(paths: RuntimePaths, cid: str, image_id: str, options: dict) -> dict:
    # `pause` (Docker's default: true) freezes a running container while its layer is read.
    return asdict(commit(paths, cid, image_id, **options))


@runtime_task
def update_container(paths: RuntimePaths, cid: str, changes: dict) -> None:
    resources.update_resources(paths, cid, changes)
