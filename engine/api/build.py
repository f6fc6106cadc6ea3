"""POST /build (the classic builder's endpoint), /build/prune and /system/df."""

import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse

from ..errors import BadRequest
from ..nodes import local_node
from ..services import build as svc
from ..services.images import normalize
from ..streams.client import CHUNK as CONTEXT_CHUNK
from ..streams.client import Stream, StreamError
from .base import engine_view, flag
from .build_body import body_chunks
from .render import image_summary
from .volumes import disk_usage_rows


def _json_param(request, name: str) -> dict:
    raw = request.GET.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be a JSON object")
    return value


def build_options(request) -> dict:
    if request.GET.get("remote"):
        raise BadRequest("building from a remote context is not supported; send a tar")
    if request.GET.get("version") == "2":
        raise BadRequest("BuildKit is not supported here; use the classic builder")
    return {
        "dockerfile": request.GET.get("dockerfile") or "Dockerfile",
        "tags": [normalize(t) for t in request.GET.getlist("t") if t],
        "build_args": _json_param(request, "buildargs"),
        "target": request.GET.get("target", ""),
        "no_cache": flag(request, "nocache"),
        "labels": {str(k): str(v) for k, v in _json_param(request, "labels").items()},
        "network": request.GET.get("networkmode", ""),
    }


@engine_view("POST")
async def build(request, actor):
    node = await sync_to_async(local_node)()
    # The tags and the network are checked before a byte of the context is read.
    options = await sync_to_async(svc.prepare_build)(actor, node, build_options(request))
    max_bytes = settings.DOCKYARD_MAX_ARCHIVE_BYTES
    stream = await Stream(node.name, "build", {"options": options, "max_bytes": max_bytes}).open()
    await _send_context(request, stream)

    def after(result: dict) -> None:
        if result.get("ID"):
            svc.finish_build(actor, node, result["ID"], options["tags"])

    return StreamingHttpResponse(_progress(stream, after), content_type="application/json")


async def _send_context(request, stream: Stream) -> None:
    """The body to the node as it arrives (engine/api/build_body.py), in the frames the node
    unpacks from."""
    async for chunk in body_chunks(request, CONTEXT_CHUNK):
        await stream.write(chunk)
    await stream.eof()


async def _progress(stream: Stream, after) -> AsyncIterator[bytes]:
    """The node's JSON lines; a stream that breaks off still ends with Docker's error line, so
    the docker CLI and docker-py report it as the build's failure."""
    try:
        async for message in stream.messages():
            yield message["data"]
        await sync_to_async(after)(stream.result or {})
    except StreamError as e:
        line = {"errorDetail": {"message": e.message}, "error": e.message}
        yield json.dumps(line).encode() + b"\n"
    finally:
        await stream.cancel()


@engine_view("POST")
def prune(request, actor):
    entries, reclaimed = svc.do_build_prune(actor, local_node())
    return JsonResponse(
        {
            "CachesDeleted": [f"{entries} cached steps"] if entries else None,
            "SpaceReclaimed": reclaimed,
        }
    )


@engine_view("GET")
def disk_usage(request, actor):
    usage = svc.disk_usage(actor, local_node())
    images = []
    for image, digests, count in usage["images"]:
        row = image_summary(image, digests)
        row["Containers"] = count
        row["SharedSize"] = 0
        images.append(row)
    containers = []
    for c, size in usage["containers"]:
        containers.append(
            {
                "Id": c.id,
                "Names": [f"/{c.name}"],
                "Image": c.image_ref,
                "ImageID": c.image_id,
                "Command": " ".join(
                    (c.config.get("Entrypoint") or []) + (c.config.get("Cmd") or [])
                ),
                "Created": int(c.created.timestamp()),
                "State": c.status,
                "Status": c.status,
                "SizeRw": size,
                "SizeRootFs": size,
                "Labels": c.config.get("Labels") or {},
                "Mounts": [],
            }
        )
    cache = usage["build_cache"]
    build_cache = []
    if cache["entries"]:
        build_cache.append(
            {
                "ID": "build-cache",
                "Type": "regular",
                "Description": f"{cache['entries']} cached build steps",
                "InUse": False,
                "Shared": False,
                "Size": cache["size"],
                "UsageCount": cache["entries"],
                "Reclaimable": True,
            }
        )
    return JsonResponse(
        {
            "LayersSize": usage["layers_size"],
            "Images": images,
            "Containers": containers,
            "Volumes": disk_usage_rows(actor, local_node()),
            "BuildCache": build_cache,
        }
    )
