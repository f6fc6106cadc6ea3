"""Local image store tasks."""

from dataclasses import asdict

from runtime.errors import NotFound
from runtime.images import base
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

from .base import runtime_task


@runtime_task
def list_images(paths: RuntimePaths) -> list[dict]:
    return [asdict(i) for i in ImageStore(paths).list()]


@runtime_task
def tag_image(paths: RuntimePaths, image_id: str, ref: str) -> None:
    ImageStore(paths).tag(image_id, ref)


@runtime_task
def untag_image(paths: RuntimePaths, ref: str) -> dict:
    return asdict(ImageStore(paths).untag(ref))


@runtime_task
def remove_image(paths: RuntimePaths, image_id: str) -> None:
    ImageStore(paths).remove(image_id)


@runtime_task
def import_base_images(paths: RuntimePaths, names: list[str]) -> list[str]:
    """Build the base images that are missing; answers the tags it built."""
    store = ImageStore(paths)
    builders = {"busybox:latest": base.build_busybox, "debian:bookworm": base.build_debian}
    built = []
    for name in names:
        if name not in builders:
            continue
        try:
            store.get(name)
        except NotFound:
            builders[name](store)
            built.append(name)
    return built
