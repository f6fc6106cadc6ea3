"""Build use cases: recording a finished build, pruning the build cache, disk usage."""

from .. import tasks
from ..events import make_event, publish
from ..models import Container, Image, Node
from ..nodes import run_on_node
from .images import sync_images


def finish_build(node: Node, image_id: str, tags: list[str]) -> None:
    sync_images(node)
    for tag in tags or [""]:
        publish(make_event("image", "tag" if tag else "build", image_id, {"name": tag}))


def do_build_prune(node: Node) -> tuple[int, int]:
    """Forget the node's build cache; (entries removed, bytes reclaimed)."""
    result = run_on_node(node, tasks.prune_build_cache)
    return result["entries"], result["reclaimed"]


def disk_usage(node: Node) -> dict:
    """What `docker system df` reports: images, containers, build cache on this node."""
    usage = run_on_node(node, tasks.node_disk_usage)
    used = set(Container.objects.filter(node=node).values_list("image_id", flat=True))
    counts: dict[str, int] = {}
    for image_id in Container.objects.filter(node=node).values_list("image_id", flat=True):
        counts[image_id] = counts.get(image_id, 0) + 1
    images = []
    layers_size = 0
    for image in Image.objects.filter(node=node):
        layers_size += image.size
        images.append((image, image.image_id in used, counts.get(image.image_id, 0)))
    containers = []
    for c in Container.objects.filter(node=node):
        containers.append((c, usage["containers"].get(c.id, 0)))
    return {
        "layers_size": layers_size,
        "images": images,
        "containers": containers,
        "build_cache": usage["build_cache"],
    }
