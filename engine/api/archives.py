"""`docker save`, `load`, `import` and `export`: archives streamed through the node agent."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse

from .. import tasks
from ..errors import BadRequest
from ..nodes import local_node, run_on_node
from ..services import archives as svc
from ..services import containers as containers_svc
from ..services.images import normalize
from ..streams.client import Stream
from .base import engine_view

BODY_CHUNK = 1 << 16


def max_archive_bytes() -> int:
    return settings.DOCKYARD_MAX_ARCHIVE_BYTES


async def send_body(request, stream: Stream) -> None:
    while chunk := await sync_to_async(request.read)(BODY_CHUNK):
        await stream.write(chunk)
    await stream.eof()


def relay(stream: Stream, content_type: str, after=None) -> StreamingHttpResponse:
    """Stream the agent's data to the client; `after(result)` runs before the body ends."""

    async def body():
        try:
            async for message in stream.messages():
                yield message["data"]
            if after is not None:
                await sync_to_async(after)(stream.result or {})
        finally:
            await stream.cancel()

    return StreamingHttpResponse(body(), content_type=content_type)


async def _save(names: list[str]) -> StreamingHttpResponse:
    node = await sync_to_async(local_node)()
    # Missing images are a 404 before any byte of the archive is sent.
    await sync_to_async(run_on_node)(node, tasks.check_images_exist, names)
    stream = await Stream(node.name, "image_save", {"names": names}).open()
    return relay(stream, "application/x-tar")


@engine_view("GET")
async def save_images(request, actor):
    names = request.GET.getlist("names")
    if not names:
        raise BadRequest("no image names were given to save")
    return await _save(names)


@engine_view("GET")
async def save_image(request, actor, name):
    return await _save([name])


@engine_view("POST")
async def load_images(request, actor):
    node = await sync_to_async(local_node)()
    stream = await Stream(node.name, "image_load", {"max_bytes": max_archive_bytes()}).open()
    await send_body(request, stream)
    return relay(stream, "application/json", lambda _: svc.after_images_added(node, [], "load"))


async def import_image(request, actor):
    """POST /images/create?fromSrc=-: the body is a filesystem tar (`docker import`)."""
    if request.GET.get("fromSrc") != "-":
        raise BadRequest("importing from a URL is not supported; send the archive in the body")
    repo = request.GET.get("repo", "")
    tag = request.GET.get("tag", "")
    tags = [normalize(f"{repo}:{tag}" if tag else repo)] if repo else []
    args = {
        "changes": request.GET.getlist("changes"),
        "message": request.GET.get("message", ""),
        "tags": tags,
        "max_bytes": max_archive_bytes(),
    }
    node = await sync_to_async(local_node)()
    stream = await Stream(node.name, "image_import", args).open()
    await send_body(request, stream)

    def after(result: dict) -> None:
        if result.get("ID"):
            svc.after_images_added(node, [result["ID"]], "import")

    return relay(stream, "application/json", after)


@engine_view("GET")
async def export_container(request, actor, ref):
    c = await sync_to_async(containers_svc.resolve_container)(actor, ref)
    node_name = await sync_to_async(lambda: c.node.name)()
    stream = await Stream(node_name, "container_export", {"cid": c.id}).open()
    return relay(stream, "application/x-tar")
