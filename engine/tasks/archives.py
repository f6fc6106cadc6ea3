"""Image archive tasks: save, load, import and export stream through the node agent; this
module holds what needs no stream."""

from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

from .base import runtime_task

__all__ = ["check_images_exist"]


@runtime_task
def check_images_exist(paths: RuntimePaths, names: list[str]) -> list[str]:
    """Image ids of `names` (raises NotFound for the first missing one), before a save."""
    store = ImageStore(paths)
    return [store.get(name).id for name in names]
