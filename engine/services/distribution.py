"""Registry use cases of the engine: login, pull, push (streamed progress), search, and the
RepoDigests each image gained from pulls and pushes."""

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.actors import Actor
from runtime.errors import InvalidInput
from runtime.images.reference import parse_reference

from .. import tasks
from ..errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from ..events import make_event, publish
from ..models import Image, Node
from ..nodes import run_on_node
from ..tasks.distribution import PROGRESS_END
from .image_access import image_name_rights, registry_repository
from .images import ImageView, claim, sync_images

TRANSFER_TIMEOUT = 6 * 3600
# After the task answered, how long to wait for progress messages still on their way.
END_GRACE = 5.0
_DEFAULT_INDEXES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_BAR_WIDTH = 50
_DIGESTS_TTL = 2.0
_digests_cache: dict[int, tuple[float, dict]] = {}


# --- credentials and names ----------------------------------------------------------------


def registry_auth(header: str) -> dict:
    """The `X-Registry-Auth` header (base64url JSON) as {"username", "password"}."""
    if not header.strip():
        return {}
    try:
        padded = header.strip() + "=" * (-len(header.strip()) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        raise BadRequest("X-Registry-Auth is not base64-encoded JSON") from None
    if not isinstance(data, dict):
        return {}
    password = data.get("password") or data.get("identitytoken") or ""
    return {"username": data.get("username") or "", "password": password}


def registry_host(server: str) -> str:
    """`docker login`'s server address as host:port; Docker Hub's means the platform's."""
    host = server.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0]
    return settings.DOCKYARD_REGISTRY if not host or host in _DEFAULT_INDEXES else host


def check_reference(ref: str) -> str:
    try:
        return str(parse_reference(ref))
    except InvalidInput as e:
        raise BadRequest(str(e)) from None


def image_reference(from_image: str, tag: str) -> str:
    """The reference `docker pull` asks for with `fromImage` and `tag` (a tag or a digest)."""
    if not from_image:
        raise BadRequest("fromImage is required")
    if tag.startswith("sha256:"):
        return check_reference(f"{from_image}@{tag}")
    return check_reference(f"{from_image}:{tag}" if tag else from_image)


# --- login ---------------------------------------------------------------------------------


def do_login(node: Node, username: str, password: str, server: str) -> dict:
    registry = registry_host(server)
    auth = {"username": username, "password": password}
    answer = run_on_node(node, tasks.registry_login, registry, auth)
    if not answer["ok"]:
        raise Unauthorized(f"{answer['message']} (unauthorized: incorrect username or password)")
    return {"Status": "Login Succeeded", "IdentityToken": ""}


# --- pull and push, streamed -----------------------------------------------------------------


def progress_line(event: dict) -> dict:
    """A runtime ProgressEvent in the shape the docker CLI renders."""
    line = {"status": event["status"], "progressDetail": {}, "id": event["id"]}
    if event["status"] in ("Downloading", "Pushing", "Extracting") and event["total"]:
        current, total = event["current"], event["total"]
        line["progressDetail"] = {"current": current, "total": total}
        line["progress"] = progress_bar(current, total)
    return line


def progress_bar(current: int, total: int) -> str:
    filled = min(_BAR_WIDTH, int(_BAR_WIDTH * current / total)) if total else 0
    arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
    return f"[{arrow.ljust(_BAR_WIDTH)}] {_human(current)}/{_human(total)}"


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.4g}{unit}"
        size /= 1000
    return f"{size}"


def _json(value: dict) -> bytes:
    return json.dumps(value).encode() + b"\r\n"


def _error(message: str) -> bytes:
    return _json({"errorDetail": {"message": message}, "error": message})


async def _run_with_progress(node: Node, task, args: tuple) -> AsyncIterator[dict | bytes]:
    """Run `task(*args, group)` on the node, yielding its progress lines as they come and,
    last, its answer (a dict). Errors propagate as ApiError."""
    layer = get_channel_layer()
    group = f"progress.{uuid.uuid4().hex}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    call = sync_to_async(run_on_node, thread_sensitive=False)
    job = asyncio.ensure_future(call(node, task, *args, group, timeout=TRANSFER_TIMEOUT))
    receive = asyncio.ensure_future(layer.receive(channel))
    try:
        while True:
            waiting = {receive} if job.done() else {receive, job}
            done, _ = await asyncio.wait(
                waiting,
                timeout=END_GRACE if job.done() else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if receive in done:
                message = receive.result()
                if message["type"] == PROGRESS_END:
                    break
                yield progress_line(message["event"])
                receive = asyncio.ensure_future(layer.receive(channel))
            elif not done:
                break
        yield await job
    finally:
        receive.cancel()
        if not job.done():
            job.cancel()
        await layer.group_discard(group, channel)


def authorize_pull(actor: Actor, ref: str) -> str:
    """Whether `actor` may pull `ref` onto the node; answers the name to hold for them
    ("" when their namespaces already show it to them).

    A user pulls what the platform's registry lets them pull, into their own names or the
    names of the repository they pull from: what lands there is what that repository's
    writers pushed, so a pull can bring a shared name back to its published content but
    never put the user's own content under it. Other registries are for administrators,
    whose names nobody else's rules cover. The refusal reads the same whether the
    repository exists or not.
    """
    if actor.admin:
        return ""
    from registry_app.permissions import PULL, allowed_actions

    parsed = parse_reference(ref)
    repository = registry_repository(parsed.name)
    if repository is None:
        raise Forbidden(
            f"only administrators may pull from {parsed.domain}; this platform's registry is "
            f"{settings.DOCKYARD_REGISTRY}"
        )
    rights = image_name_rights(actor)
    if rights.may_write(parsed.name):
        return ""
    if PULL not in allowed_actions(actor, repository):
        raise Forbidden(
            f"pull access denied for {parsed.name}, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied"
        )
    local = f"{parsed.name}:{parsed.tag}" if parsed.tag and not parsed.digest else ""
    return "" if not local or rights.may_read(local) else local


async def pull_stream(
    node: Node, ref: str, auth: dict, actor: Actor, hold: str = ""
) -> AsyncIterator[bytes]:
    """`docker pull` as progress lines; the image and, if given, the name `hold` become
    `actor`'s (authorize_pull says which)."""
    parsed = parse_reference(ref)
    label = parsed.digest or parsed.tag
    path = parsed.path if parsed.domain or "/" in parsed.path else f"library/{parsed.path}"
    yield _json({"status": f"Pulling from {path}", "id": label})
    try:
        async for item in _run_with_progress(node, tasks.pull_image, (ref, auth)):
            if isinstance(item, dict) and "status" in item:
                yield _json(item)
                continue
            answer = item
    except ApiError as e:
        yield _error(e.message)
        return
    await sync_to_async(_after_change)(node, "pull", answer["id"], answer["name"])
    await sync_to_async(_claim_pulled)(actor, node, answer["id"], hold)
    yield _json({"status": f"Digest: {answer['digest']}"})
    if answer["updated"]:
        yield _json({"status": f"Status: Downloaded newer image for {answer['name']}"})
    else:
        yield _json({"status": f"Status: Image is up to date for {answer['name']}"})


async def push_stream(node: Node, repository: str, refs: list[str], auth: dict):
    """Push local `refs` (all of `repository`) one after the other, as `docker push` shows."""
    yield _json({"status": f"The push refers to repository [{repository}]"})
    for ref in refs:
        try:
            async for item in _run_with_progress(node, tasks.push_image, (ref, ref, auth)):
                if isinstance(item, dict) and "status" in item:
                    yield _json(item)
                    continue
                answer = item
        except ApiError as e:
            yield _error(e.message)
            return
        await sync_to_async(_after_change)(node, "push", ref, ref)
        tag, digest, size = answer["tag"], answer["digest"], answer["size"]
        yield _json({"status": f"{tag}: digest: {digest} size: {size}"})
        aux = {"Tag": tag, "Digest": digest, "Size": size}
        yield _json({"progressDetail": {}, "aux": aux})


def _after_change(node: Node, action: str, actor_id: str, name: str) -> None:
    _digests_cache.pop(node.pk, None)
    if action == "pull":
        sync_images(node)
    publish(make_event("image", action, actor_id, {"name": name}))


def _claim_pulled(actor: Actor, node: Node, image_id: str, hold: str) -> None:
    claim(actor, node, image_id)
    if hold:
        claim(actor, node, image_id, hold)


def local_tags(actor: Actor, node: Node, repository: str, tag: str) -> list[str]:
    """What `docker push repository[:tag]` pushes: that tag, or every tag of the repository,
    among the names `actor` sees; the registry then decides whether they may push there."""
    name = parse_reference(check_reference(repository)).name
    visible = [t for image in ImageView(actor, node).images() for t in image.tags]
    if tag:
        wanted = [check_reference(f"{name}:{tag}")]
    else:
        wanted = sorted(t for t in visible if t.rpartition(":")[0] == name)
    missing = [t for t in wanted if t not in visible]
    if missing or not wanted:
        raise NotFound(
            f"An image does not exist locally with the tag: {missing[0] if missing else name}"
        )
    return wanted


# --- search ----------------------------------------------------------------------------------


def search(
    term: str, limit: int, actor: Actor | None, is_official: bool | None = None
) -> list[dict]:
    """Repositories of the platform's registry whose name holds `term`, among those `actor`
    (None: anonymous) may pull, in Docker's search result shape."""
    from registry_app.names import PLATFORM_NAMESPACE
    from registry_app.permissions import visible_repositories

    needle = term.strip().lower()
    prefix = f"{settings.DOCKYARD_REGISTRY}/"
    needle = needle.removeprefix(prefix)
    found = visible_repositories(actor).filter(name__icontains=needle).order_by("name")
    rows = []
    for repository in found.iterator():
        official = (
            repository.name.startswith(f"{PLATFORM_NAMESPACE}/") or "/" not in repository.name
        )
        if is_official is not None and official != is_official:
            continue
        if len(rows) >= limit:
            break
        rows.append(
            {
                "name": repository.name.removeprefix(f"{PLATFORM_NAMESPACE}/"),
                "description": "",
                "star_count": 0,
                "is_official": official,
                "is_automated": False,
            }
        )
    return rows


# --- RepoDigests -----------------------------------------------------------------------------


def repo_digests(image: Image) -> list[str]:
    """`name@digest` for every repository this image was pulled from or pushed to."""
    cached = _digests_cache.get(image.node_id)
    if cached is None or cached[0] < time.monotonic():
        node = Node.objects.get(pk=image.node_id)
        try:
            known = run_on_node(node, tasks.list_repo_digests, timeout=10)
        except ApiError:
            known = {}
        cached = _digests_cache[image.node_id] = (time.monotonic() + _DIGESTS_TTL, known)
    names = cached[1].get(image.image_id, {})
    return sorted(f"{name}@{digest}" for name, digest in names.items())
