"""Build use cases: what a build may use and name, recording a finished build, pruning the
build cache, disk usage."""

from .. import tasks
from ..errors import BadRequest, Forbidden
from ..events import make_event, publish
from ..models import Image, Node
from ..nodes import run_on_node
from .access import Actor, visible_containers
from .images import ImageView, check_new_names, claim, sync_images


def build_network(actor: Actor, mode: str) -> str:
    """Where RUN steps run for `docker build --network <mode>`: Docker's default bridge
    unless told `none`; the node's own network (`host`) for administrators only, as for a
    container."""
    if mode in ("", "default", "bridge"):
        return "bridge"
    if mode == "none":
        return "none"
    if mode == "host":
        if not actor.admin:
            raise Forbidden("network=host is for administrators")
        return "host"
    raise BadRequest(
        f"network mode {mode!r} is not supported for builds: use default, bridge, none or host"
    )


def prepare_build(actor: Actor, node: Node, options: dict) -> dict:
    """The builder's options for `actor`: refused up front if a tag is a name they may not
    write or the network one they may not use; for anyone but an administrator, FROM and
    COPY --from limited to the images they see, and cached steps kept to their own (a hit on
    another user's step would tell them what that user built)."""
    check_new_names(actor, options["tags"])
    options = {**options, "network": build_network(actor, options.get("network", ""))}
    if actor.admin:
        return options
    visible = [image.image_id for image in ImageView(actor, node).images()]
    scope = f"user-{actor.user.pk}" if actor.user is not None else "anonymous"
    return {**options, "visible_images": visible, "cache_scope": scope}


def finish_build(actor: Actor, node: Node, image_id: str, tags: list[str]) -> None:
    sync_images(node)
    claim(actor, node, image_id)
    for tag in tags or [""]:
        publish(make_event("image", "tag" if tag else "build", image_id, {"name": tag}))


def do_build_prune(actor: Actor, node: Node) -> tuple[int, int]:
    """Forget the node's build cache; (entries removed, bytes reclaimed). Administrators
    only: the cache holds every user's steps."""
    if not actor.admin:
        raise Forbidden("pruning a node's build cache is for administrators")
    result = run_on_node(node, tasks.prune_build_cache)
    return result["entries"], result["reclaimed"]


def disk_usage(actor: Actor, node: Node) -> dict:
    """What `docker system df` reports: images, containers, build cache on this node, as far
    as `actor` may see them (the node-wide build cache only to administrators)."""
    usage = run_on_node(node, tasks.node_disk_usage)
    containers_qs = visible_containers(actor).filter(node=node)
    counts: dict[str, int] = {}
    for image_id in containers_qs.values_list("image_id", flat=True):
        counts[image_id] = counts.get(image_id, 0) + 1
    view = ImageView(actor, node)
    images = []
    layers_size = 0
    for image in view.images(Image.objects.filter(node=node)):
        layers_size += image.size
        images.append((image, view.repo_digests(image), counts.get(image.image_id, 0)))
    containers = [(c, usage["containers"].get(c.id, 0)) for c in containers_qs]
    build_cache = usage["build_cache"] if actor.admin else {"entries": 0, "size": 0}
    return {
        "layers_size": layers_size,
        "images": images,
        "containers": containers,
        "build_cache": build_cache,
    }
