"""Image archive use cases: after `docker load` and `docker import` changed a node's store."""

from ..events import make_event, publish
from ..models import Node
from .images import sync_images


def after_images_added(node: Node, image_ids: list[str], action: str) -> None:
    """Mirror the node's store into the ORM and tell listeners (`load`, `import`)."""
    sync_images(node)
    for image_id in image_ids:
        publish(make_event("image", action, image_id, {}))
