"""Image use cases: the ORM mirror of a node's image store, tag, remove, resolve."""

import fnmatch
from datetime import datetime

from django.db import transaction

from runtime.errors import InvalidInput
from runtime.images.reference import parse_reference

from .. import tasks
from ..errors import BadRequest, Conflict, NotFound
from ..events import make_event, publish
from ..models import Container, Image, ImageLayer, Layer, Node
from ..nodes import run_on_node


def normalize(ref: str) -> str:
    try:
        return str(parse_reference(ref))
    except InvalidInput as e:
        raise BadRequest(str(e)) from None


def sync_images(node: Node) -> None:
    """Mirror the node's image store into the ORM."""
    images = run_on_node(node, tasks.list_images)
    with transaction.atomic():
        seen = set()
        for data in images:
            seen.add(data["id"])
            image, created = Image.objects.update_or_create(
                node=node,
                image_id=data["id"],
                defaults={
                    "manifest_digest": data["manifest_digest"],
                    "tags": data["tags"],
                    "config": data["config"],
                    "size": data["size"],
                    "created": _parse_time(data["created"]),
                },
            )
            if created:
                for position, layer in enumerate(data["layers"]):
                    row, _ = Layer.objects.get_or_create(
                        diff_id=layer["diff_id"],
                        defaults={"digest": layer["digest"], "size": layer["size"]},
                    )
                    ImageLayer.objects.create(image=image, layer=row, position=position)
        Image.objects.filter(node=node).exclude(image_id__in=seen).delete()
        Layer.objects.filter(imagelayer__isnull=True).delete()


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return datetime.fromtimestamp(0).astimezone()


def resolve_image(node: Node, ref: str) -> Image:
    images = Image.objects.filter(node=node)
    bare = ref.removeprefix("sha256:")
    if len(bare) >= 4 and all(c in "0123456789abcdef" for c in bare):
        matches = list(images.filter(image_id__startswith=f"sha256:{bare}"))
        if len(matches) == 1:
            return matches[0]
    if not ref.startswith("sha256:"):
        name = normalize(ref)
        for image in images:
            if name in image.tags:
                return image
    raise NotFound(f"No such image: {ref if ref.startswith('sha256:') else normalize(ref)}")


def _reference_matches(pattern: str, tag: str) -> bool:
    """Docker's `reference` filter: a glob on the name, or on name:tag when it has a tag."""
    target = tag if ":" in pattern.rsplit("/", 1)[-1] else tag.rsplit(":", 1)[0]
    return fnmatch.fnmatchcase(target, pattern.removeprefix("library/"))


def filter_images(images, filters: dict[str, list[str]]) -> list[Image]:
    rows = list(images)
    for pattern in filters.get("reference", []):
        rows = [i for i in rows if any(_reference_matches(pattern, t) for t in i.tags)]
    if "dangling" in filters:
        dangling = filters["dangling"][0] in ("true", "1")
        rows = [i for i in rows if (not i.tags) == dangling]
    for wanted in filters.get("label", []):
        key, _, value = wanted.partition("=")
        rows = [i for i in rows if _label(i, key, value)]
    return rows


def _label(image: Image, key: str, value: str) -> bool:
    labels = (image.config.get("config") or {}).get("Labels") or {}
    return key in labels and (not value or labels[key] == value)


def do_prune(node: Node, only_dangling: bool) -> tuple[list[dict], int]:
    """Remove images no container uses: untagged ones, or all of them."""
    used = set(Container.objects.filter(node=node).values_list("image_id", flat=True))
    deleted: list[dict] = []
    reclaimed = 0
    for image in Image.objects.filter(node=node):
        if image.image_id in used or (only_dangling and image.tags):
            continue
        deleted += do_remove(node, image.image_id, force=True)
        reclaimed += image.size
    return deleted, reclaimed


def do_tag(node: Node, source: str, repo: str, tag: str) -> None:
    image = resolve_image(node, source)
    ref = normalize(f"{repo}:{tag or 'latest'}")
    run_on_node(node, tasks.tag_image, image.image_id, ref)
    sync_images(node)
    publish(make_event("image", "tag", image.image_id, {"name": ref}))


def do_remove(node: Node, ref: str, force: bool) -> list[dict]:
    """Docker's rmi: untag a name, delete the image once nothing names or uses it."""
    image = resolve_image(node, ref)
    short = image.image_id[7:19]
    by_tag = not ref.startswith("sha256:") and normalize(ref) in image.tags
    users = Container.objects.filter(node=node, image_id=image.image_id)
    running = users.filter(status__in=["running", "paused", "restarting"]).first()
    report: list[dict] = []
    if by_tag and (len(image.tags) > 1 or users.exists()):
        run_on_node(node, tasks.untag_image, normalize(ref))
        report.append({"Untagged": normalize(ref)})
    else:
        if running:
            raise Conflict(
                f"conflict: unable to delete {short} (cannot be forced) - image is being used "
                f"by running container {running.id[:12]}"
            )
        if not force and len(image.tags) > 1 and not by_tag:
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is referenced "
                "in multiple repositories"
            )
        stopped = users.first()
        if stopped and not force:
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is being used "
                f"by stopped container {stopped.id[:12]}"
            )
        for tag in image.tags:
            run_on_node(node, tasks.untag_image, tag)
            report.append({"Untagged": tag})
        if not stopped:
            run_on_node(node, tasks.remove_image, image.image_id)
            report.append({"Deleted": image.image_id})
    sync_images(node)
    for entry in report:
        action = "untag" if "Untagged" in entry else "delete"
        publish(make_event("image", action, image.image_id, {"name": next(iter(entry.values()))}))
    return report
