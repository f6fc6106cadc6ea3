"""Image use cases: the ORM mirror of a node's image store, each user's view of it, tag,
remove, resolve, commit.

A node keeps every image once (content is shared storage), but what a user sees of it is
theirs: the names their namespaces and teams grant and the shared library
(engine/services/image_access.py), and what they brought in themselves (ImageClaim). Every
entry point (the Engine API, the dashboard) resolves, lists and changes images through an
ImageView, so a name or id a user cannot see answers "No such image" exactly as a missing one.
"""

import copy
import fnmatch
from datetime import datetime

from django.db import transaction

from runtime.errors import InvalidInput
from runtime.images.reference import parse_reference

from .. import tasks
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..events import make_event, publish
from ..models import Container, Image, ImageClaim, ImageLayer, Layer, Node
from ..nodes import run_on_node
from .access import Actor, visible_containers
from .image_access import ImageNameRights, image_name_rights

_ACTIVE = ("running", "paused", "restarting")


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


# --- one actor's view of a node's images ------------------------------------------------------


class ImageView:
    """What `actor` sees of `node`'s images: all of them for an administrator; for anyone
    else the names `ImageNameRights` lets them read, the names they pulled and still hold,
    and the images they brought in by id. An image is visible when one of those applies."""

    def __init__(self, actor: Actor, node: Node) -> None:
        self.actor = actor
        self.node = node
        self.rights: ImageNameRights = image_name_rights(actor)
        self.held_ids: set[str] = set()
        self.held_names: set[tuple[str, str]] = set()
        if not actor.admin and actor.user is not None:
            claims = ImageClaim.objects.filter(image__node=node, user=actor.user)
            for image_id, name in claims.values_list("image__image_id", "name"):
                if name:
                    self.held_names.add((image_id, name))
                else:
                    self.held_ids.add(image_id)

    def names(self, image: Image) -> list[str]:
        if self.actor.admin:
            return list(image.tags)
        return [
            t
            for t in image.tags
            if self.rights.may_read(t) or (image.image_id, t) in self.held_names
        ]

    def sees(self, image: Image) -> bool:
        return self.actor.admin or image.image_id in self.held_ids or bool(self.names(image))

    def present(self, image: Image) -> Image:
        """`image` with only the names this actor may see: a copy that is never saved."""
        if self.actor.admin:
            return image
        seen = copy.copy(image)
        seen.tags = self.names(image)
        return seen

    def images(self, rows=None) -> list[Image]:
        rows = Image.objects.filter(node=self.node) if rows is None else rows
        return [self.present(i) for i in rows if self.sees(i)]

    def resolve(self, ref: str) -> Image:
        images = Image.objects.filter(node=self.node)
        bare = ref.removeprefix("sha256:")
        if len(bare) >= 4 and all(c in "0123456789abcdef" for c in bare):
            # Only visible images count, so an ambiguous prefix says nothing of others'.
            matches = [
                i for i in images.filter(image_id__startswith=f"sha256:{bare}") if self.sees(i)
            ]
            if len(matches) == 1:
                return self.present(matches[0])
        if not ref.startswith("sha256:"):
            name = normalize(ref)
            for image in images:
                if name in image.tags and name in self.names(image):
                    return self.present(image)
        raise NotFound(f"No such image: {ref if ref.startswith('sha256:') else normalize(ref)}")

    def repo_digests(self, image: Image) -> list[str]:
        """`name@digest` of the repositories the image came from or went to, among the
        names this actor may see."""
        from .distribution import repo_digests

        found = repo_digests(image)
        if self.actor.admin:
            return found
        repositories = {t.rpartition(":")[0] for t in self.names(image)}
        return [
            d
            for d in found
            if self.rights.may_read(d.split("@")[0]) or d.split("@")[0] in repositories
        ]


def resolve_image(actor: Actor, node: Node, ref: str) -> Image:
    return ImageView(actor, node).resolve(ref)


def claim(actor: Actor, node: Node, image_id: str, name: str = "") -> None:
    """Record that `actor`'s user brought `image_id` (or the name `name` of it) into the
    node, so it stays in their view. The node's own socket has no user and sees all."""
    if actor.user is None:
        return
    image = Image.objects.filter(node=node, image_id=image_id).first()
    if image is not None:
        ImageClaim.objects.get_or_create(image=image, user=actor.user, name=name)


def check_new_names(actor: Actor, names: list[str]) -> None:
    """Refuse, before anything runs, to create names the actor may not write."""
    rights = image_name_rights(actor)
    for name in names:
        rights.check_write(name)


# --- listing ------------------------------------------------------------------------------------


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


def list_images(view: ImageView, filters: dict[str, list[str]]) -> list[Image]:
    """`docker images`: what the view's actor sees, newest first, as `filters` narrow it."""
    rows = Image.objects.filter(node=view.node).order_by("-created")
    return filter_images(view.images(rows), filters)


# --- changes --------------------------------------------------------------------------------------


def do_prune(actor: Actor, node: Node, only_dangling: bool) -> tuple[list[dict], int]:
    """Remove images no container uses: untagged ones, or all of them. Administrators only:
    it reaches every user's images."""
    if not actor.admin:
        raise Forbidden("pruning a node's images is for administrators")
    used = set(Container.objects.filter(node=node).values_list("image_id", flat=True))
    deleted: list[dict] = []
    reclaimed = 0
    for image in Image.objects.filter(node=node):
        if image.image_id in used or (only_dangling and image.tags):
            continue
        deleted += do_remove(actor, node, image.image_id, force=True)
        reclaimed += image.size
    return deleted, reclaimed


def do_tag(actor: Actor, node: Node, source: str, repo: str, tag: str) -> None:
    view = ImageView(actor, node)
    image = view.resolve(source)
    ref = normalize(f"{repo}:{tag or 'latest'}")
    view.rights.check_write(ref)
    run_on_node(node, tasks.tag_image, image.image_id, ref)
    sync_images(node)
    publish(make_event("image", "tag", image.image_id, {"name": ref}))


def do_commit(actor: Actor, c: Container, repo: str, tag: str, options: dict) -> str:
    """`docker commit`: the container's changes as a new image, named `repo:tag` if given."""
    names = [normalize(f"{repo}:{tag or 'latest'}")] if repo else []
    check_new_names(actor, names)
    image = run_on_node(
        c.node, tasks.commit_container, c.id, c.image_id, {**options, "tags": names}
    )
    sync_images(c.node)
    claim(actor, c.node, image["id"])
    return image["id"]


def do_remove(actor: Actor, node: Node, ref: str, force: bool) -> list[dict]:
    """Docker's rmi: untag a name, delete the image once nothing names or uses it.

    An administrator acts on the node's store as Docker does. Anyone else removes from
    their own view: names they may write are untagged, names they only pulled are let go,
    and the content is deleted only when no other user's name, claim or container needs it.
    """
    if not actor.admin:
        return _remove_from_view(ImageView(actor, node), ref, force)
    image = resolve_image(actor, node, ref)
    short = image.image_id[7:19]
    by_tag = not ref.startswith("sha256:") and normalize(ref) in image.tags
    users = Container.objects.filter(node=node, image_id=image.image_id)
    running = users.filter(status__in=_ACTIVE).first()
    report: list[dict] = []
    if by_tag and (len(image.tags) > 1 or users.exists()):
        run_on_node(node, tasks.untag_image, normalize(ref))
        report.append({"Untagged": normalize(ref)})
    else:
        stopped = users.first()
        _check_deletable(short, running, len(image.tags) > 1 and not by_tag, stopped, force)
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


def _check_deletable(short: str, running, several_names: bool, stopped, force: bool) -> None:
    """Docker's rmi conflicts, in its order: a running user, several names, a stopped user."""
    if running:
        raise Conflict(
            f"conflict: unable to delete {short} (cannot be forced) - image is being used "
            f"by running container {running.id[:12]}"
        )
    if several_names and not force:
        raise Conflict(
            f"conflict: unable to delete {short} (must be forced) - image is referenced "
            "in multiple repositories"
        )
    if stopped and not force:
        raise Conflict(
            f"conflict: unable to delete {short} (must be forced) - image is being used "
            f"by stopped container {stopped.id[:12]}"
        )


def _remove_from_view(view: ImageView, ref: str, force: bool) -> list[dict]:
    node, actor = view.node, view.actor
    image = view.resolve(ref)
    short = image.image_id[7:19]
    name = "" if ref.startswith("sha256:") else normalize(ref)
    by_tag = name in image.tags
    targets = [name] if by_tag else list(image.tags)
    untag = [t for t in targets if view.rights.may_write(t)]
    let_go = [t for t in targets if t not in untag and not view.rights.may_read(t)]
    shared = [t for t in targets if t not in untag and t not in let_go]
    if shared:
        raise Forbidden(
            f"{shared[0]} is shared with you read-only: only its namespace's writers or an "
            "administrator may remove it"
        )
    # Docker's conflicts, counted among what this user sees: their own containers.
    users = visible_containers(actor).filter(node=node, image_id=image.image_id)
    keeps_image = by_tag and (len(image.tags) > 1 or users.exists())
    if not keeps_image:
        running = users.filter(status__in=_ACTIVE).first()
        stopped = users.first()
        repositories = len({t.rpartition(":")[0] for t in targets})
        _check_deletable(short, running, repositories > 1, stopped, force)
    row = Image.objects.get(pk=image.pk)
    report: list[dict] = []
    events: list[tuple[str, str]] = []
    for tag in untag:
        run_on_node(node, tasks.untag_image, tag)
        report.append({"Untagged": tag})
        events.append(("untag", tag))
    for tag in let_go:
        ImageClaim.objects.filter(image=row, user=actor.user, name=tag).delete()
        report.append({"Untagged": tag})
    if not keeps_image and not users.exists():
        ImageClaim.objects.filter(image=row, user=actor.user).delete()
        needed = (
            set(row.tags) - set(untag)
            or ImageClaim.objects.filter(image=row).exists()
            or Container.objects.filter(node=node, image_id=row.image_id).exists()
        )
        if not needed:
            run_on_node(node, tasks.remove_image, row.image_id)
            events.append(("delete", row.image_id))
        # Gone from this user's view either way; whether others still hold it is theirs.
        report.append({"Deleted": row.image_id})
    sync_images(node)
    for action, value in events:
        publish(make_event("image", action, row.image_id, {"name": value}))
    return report
