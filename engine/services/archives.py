"""Image archive use cases: what a user may save, the names a load or import would create,
and recording what `docker load` and `docker import` added to a node's store."""

import json
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from runtime.errors import InvalidInput
from runtime.images.archive_names import archive_tags

from ..errors import BadRequest
from ..events import make_event, publish
from ..models import Image, Node
from .access import Actor
from .images import ImageView, claim, normalize, sync_images

_LOADED_ID = "Loaded image ID: "
_LOADED_NAME = "Loaded image: "


def saved_names(actor: Actor, node: Node, names: list[str]) -> list[str]:
    """What to ask the node to save for `names`: each resolved in the actor's view (404 for
    what they cannot see), then named exactly (the full id, or the normalised name), so the
    node's store cannot resolve it to anything else, such as another user's tag."""
    if actor.admin:
        return names
    view = ImageView(actor, node)
    exact = []
    for name in names:
        image = view.resolve(name)
        tag = "" if name.startswith("sha256:") else normalize(name)
        exact.append(tag if tag in image.tags else image.image_id)
    return exact


def spool_file() -> BinaryIO:
    """A temporary file under the node's root, which has room for image archives (/tmp may
    be a small tmpfs)."""
    directory = Path(settings.DOCKYARD_ROOT) / "tmp"
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile(dir=directory)


def archive_names(archive: BinaryIO, max_bytes: int) -> list[str]:
    """The names `docker load` of `archive` would give images; the file is rewound after.
    Reads no database, so it may run on any thread."""
    try:
        return archive_tags(archive, max_bytes)
    except InvalidInput as e:
        raise BadRequest(str(e)) from None
    finally:
        archive.seek(0)


def after_load(actor: Actor, node: Node, output: bytes) -> None:
    """After a user's `docker load`: what it reported loading (`output`, its progress lines)
    becomes theirs."""
    sync_images(node)
    for image_id in _loaded_images(node, output):
        claim(actor, node, image_id)
        publish(make_event("image", "load", image_id, {}))


def _loaded_images(node: Node, output: bytes) -> list[str]:
    """Image ids `docker load` reported in its progress lines, after the store was synced."""
    ids: list[str] = []
    names: list[str] = []
    for line in output.splitlines():
        try:
            text = json.loads(line).get("stream", "")
        except (ValueError, AttributeError):
            continue
        if text.startswith(_LOADED_ID):
            ids.append(text.removeprefix(_LOADED_ID).strip())
        elif text.startswith(_LOADED_NAME):
            names.append(text.removeprefix(_LOADED_NAME).strip())
    for image in Image.objects.filter(node=node):
        if any(name in image.tags for name in names):
            ids.append(image.image_id)
    return ids


def after_images_added(actor: Actor, node: Node, image_ids: list[str], action: str) -> None:
    """Mirror the node's store into the ORM, make the new images the actor's, and tell
    listeners (`load`, `import`)."""
    sync_images(node)
    for image_id in image_ids:
        claim(actor, node, image_id)
        publish(make_event("image", action, image_id, {}))
