"""Volume tasks: the local driver's directories on a node."""

from dataclasses import asdict

from runtime import volumes
from runtime.paths import RuntimePaths

from .base import runtime_task

__all__ = ["create_volume", "remove_volume", "volume_sizes"]


@runtime_task
def create_volume(paths: RuntimePaths, name: str) -> dict:
    return asdict(volumes.create(paths, name))


@runtime_task
def remove_volume(paths: RuntimePaths, name: str) -> None:
    volumes.remove(paths, name)


@runtime_task
def volume_sizes(paths: RuntimePaths, names: list[str]) -> dict[str, int]:
    return volumes.sizes(paths, names)
