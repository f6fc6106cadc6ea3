"""`docker save`, `load`, `import` and `export`: archives streamed through the node agent."""

import asyncio
from typing import BinaryIO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse

from .. import tasks
from ..errors import BadRequest
from ..nodes import local_node, run_on_node
from ..services import archives as svc
from ..services import containers as containers_svc
from ..services.images import check_new_names, normalize
from ..streams.client import Stream
from .base import engine_view

BODY_CHUNK = 1 << 16


def max_archive_bytes() -> int:
    return settings.DOCKYARD_MAX_ARCHIVE_BYTES


async def send_body(request, stream: Stream) -> None:
    while chunk := await sync_to_async(request.read)(BODY_CHUNK):
        await stream.write(chunk)
    await stream.eof()


def relay(stream: Stream, content_type: str, after=None, keep=None) -> StreamingHttpResponse:
    """Stream the agent's data to the client; `after(result)` runs before the body ends.
    `keep`, a bytearray, gets a copy of what was sent (small answers such as a load's)."""

    async def body():
        try:
            async for message in stream.messages():
                if keep is not None:
                    keep.extend(message["data"])
                yield message["data"]
            if after is not None:
                await sync_to_async(after)(stream.result or {})
        finally:
            await stream.cancel()

    return StreamingHttpResponse(body(), content_type=content_type)


async def _save(actor, names: list[str]) -> StreamingHttpResponse:
    node = await sync_to_async(local_node)()
    names = await sync_to_async(svc.saved_names)(actor, node, names)
    # Missing images are a 404 before any byte of the archive is sent.
    await sync_to_async(run_on_node)(node, tasks.check_images_exist, names)
    stream = await Stream(node.name, "image_save", {"names": names}).open()
    return relay(stream, "application/x-tar")


@engine_view("GET")
async def save_images(request, actor):
    names = request.GET.getlist("names")
    if not names:
        raise BadRequest("no image names were given to save")
    return await _save(actor, names)


@engine_view("GET")
async def save_image(request, actor, name):
    return await _save(actor, [name])


async def _spool_body(request) -> BinaryIO:
    """The request body in a temporary file, refused past the archive limit."""
    spool = await asyncio.to_thread(svc.spool_file)
    size = 0
    try:
        while chunk := await sync_to_async(request.read)(BODY_CHUNK):
            size += len(chunk)
            if size > max_archive_bytes():
                raise BadRequest(
                    f"image archive is larger than the limit of {max_archive_bytes()} bytes"
                )
            await asyncio.to_thread(spool.write, chunk)
        await asyncio.to_thread(spool.seek, 0)
    except BaseException:
        spool.close()
        raise
    return spool


async def _send_file(spool: BinaryIO, stream: Stream) -> None:
    with spool:
        while chunk := await asyncio.to_thread(spool.read, BODY_CHUNK):
            await stream.write(chunk)
    await stream.eof()


@engine_view("POST")
async def load_images(request, actor):
    node = await sync_to_async(local_node)()
    if actor.admin:
        stream = await Stream(node.name, "image_load", {"max_bytes": max_archive_bytes()}).open()
        await send_body(request, stream)
        return relay(
            stream, "application/json", lambda _: svc.after_images_added(actor, node, [], "load")
        )
    # The node's loader tags as the archive says, and the names come last in a docker
    # save; the whole archive is read and its names checked before the node gets a byte,
    # so a refused load leaves nothing behind.
    spool = await _spool_body(request)
    try:
        names = await asyncio.to_thread(svc.archive_names, spool, max_archive_bytes())
        await sync_to_async(check_new_names)(actor, names)
        stream = await Stream(node.name, "image_load", {"max_bytes": max_archive_bytes()}).open()
    except BaseException:
        spool.close()
        raise
    await _send_file(spool, stream)
    output = bytearray()

    def after(_: dict) -> None:
        svc.after_load(actor, node, bytes(output))

    return relay(stream, "application/json", after, keep=output)


async def import_image(request, actor):
    """POST /images/create?fromSrc=-: the body is a filesystem tar (`docker import`)."""
    if request.GET.get("fromSrc") != "-":
        raise BadRequest("importing from a URL is not supported; send the archive in the body")
    repo = request.GET.get("repo", "")
    tag = request.GET.get("tag", "")
    tags = [normalize(f"{repo}:{tag}" if tag else repo)] if repo else []
    await sync_to_async(check_new_names)(actor, tags)
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
            svc.after_images_added(actor, node, [result["ID"]], "import")

    return relay(stream, "application/json", after)


@engine_view("GET")
async def export_container(request, actor, ref):
    c = await sync_to_async(containers_svc.resolve_container)(actor, ref)
    node_name = await sync_to_async(lambda: c.node.name)()
    stream = await Stream(node_name, "container_export", {"cid": c.id}).open()
    return relay(stream, "application/x-tar")
