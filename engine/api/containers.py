"""/containers/... of the Docker Engine API."""

import asyncio
import base64
import json
from datetime import datetime

from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from .. import tasks
from ..errors import BadRequest, Conflict
from ..events import Subscription, container_group
from ..models import Container
from ..nodes import run_on_node
from ..services import container_updates
from ..services import containers as svc
from ..services import images as images_svc
from ..services.access import visible_containers
from ..services.images import normalize
from ..services.nodes import place_container
from ..streams import wire
from ..streams.client import Stream, hand_over
from .base import engine_view, flag, int_param, parse_body, parse_filters
from .detach import detach_keys
from .render import ATTACHMENTS, container_inspect, container_summary
from .schemas import CommitConfig, ContainerCreate, ContainerUpdate

HIJACK_HEADER = "X-Dockyard-Hijack"


def hijack(spec: dict) -> HttpResponse:
    """Ask the gateway to take over the connection and relay it as `spec` says."""
    response = HttpResponse(status=101)
    response[HIJACK_HEADER] = json.dumps(spec)
    return response


@engine_view("POST")
def create(request, actor):
    body = parse_body(request, ContainerCreate)
    node = place_container(actor, body)
    c = svc.do_create_container(actor, node, body, request.GET.get("name", ""))
    return JsonResponse({"Id": c.id, "Warnings": []}, status=201)


@engine_view("GET")
def list_containers(request, actor):
    qs = visible_containers(actor).order_by("-created").prefetch_related(ATTACHMENTS, "ports")
    filters = parse_filters(request)
    limit = int_param(request, "limit")
    if flag(request, "latest") and not limit:
        limit = 1
    # Docker: a limit (`ps -l`, `ps -n 3`) looks at stopped containers too.
    show_all = flag(request, "all") or bool(limit and limit > 0)
    if not show_all and "status" not in filters:
        qs = qs.filter(status__in=["running", "paused", "restarting"])
    if "status" in filters:
        qs = qs.filter(status__in=filters["status"])
    if "name" in filters:
        rows = [c for c in qs if any(n.removeprefix("/") in c.name for n in filters["name"])]
        qs = qs.filter(id__in=[c.id for c in rows])
    if "id" in filters:
        rows = [c for c in qs if any(c.id.startswith(i) for i in filters["id"])]
        qs = qs.filter(id__in=[c.id for c in rows])
    if "exited" in filters:
        qs = qs.filter(status="exited", exit_code__in=[int(x) for x in filters["exited"]])
    if "ancestor" in filters:
        names = {normalize(a) if not a.startswith("sha256:") else a for a in filters["ancestor"]}
        qs = [c for c in qs if normalize(c.image_ref) in names or c.image_id in names]
    rows = list(qs)
    if "label" in filters:
        rows = [c for c in rows if all(_has_label(c, lbl) for lbl in filters["label"])]
    if limit and limit > 0:
        rows = rows[:limit]
    return JsonResponse([container_summary(c) for c in rows], safe=False)


def _has_label(c: Container, wanted: str) -> bool:
    labels = c.config.get("Labels") or {}
    key, _, value = wanted.partition("=")
    return key in labels and (not value or labels[key] == value)


@engine_view("GET")
def inspect(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    return JsonResponse(container_inspect(c))


@engine_view("POST")
def start(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    try:
        svc.do_start(c)
    except svc.NotModifiedStart:
        return HttpResponse(status=304)
    return HttpResponse(status=204)


@engine_view("POST")
def stop(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    stopped = svc.do_stop(c, int_param(request, "t"), request.GET.get("signal") or None)
    return HttpResponse(status=204 if stopped else 304)


@engine_view("POST")
def restart(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    svc.do_restart(c, int_param(request, "t"), request.GET.get("signal") or None)
    return HttpResponse(status=204)


@engine_view("POST")
def kill(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    svc.do_kill(c, request.GET.get("signal") or "SIGKILL")
    return HttpResponse(status=204)


@engine_view("POST")
def pause(request, actor, ref):
    svc.do_pause(svc.resolve_container(actor, ref))
    return HttpResponse(status=204)


@engine_view("POST")
def unpause(request, actor, ref):
    svc.do_unpause(svc.resolve_container(actor, ref))
    return HttpResponse(status=204)


@engine_view("DELETE")
def remove(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    svc.do_remove(c, force=flag(request, "force"), remove_volumes=flag(request, "v"))
    return HttpResponse(status=204)


@engine_view("POST")
def rename(request, actor, ref):
    svc.do_rename(svc.resolve_container(actor, ref), request.GET.get("name", ""))
    return HttpResponse(status=204)


@engine_view("POST")
def resize(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    svc.do_resize(c, int_param(request, "h", 0), int_param(request, "w", 0))
    return HttpResponse(status=200)


@engine_view("POST")
def update(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    warnings = container_updates.do_update(
        actor, c, parse_body(request, ContainerUpdate, optional=True)
    )
    return JsonResponse({"Warnings": warnings})


@engine_view("POST")
def prune(request, actor):
    removed, reclaimed = svc.do_prune(actor)
    return JsonResponse({"ContainersDeleted": removed or None, "SpaceReclaimed": reclaimed})


@engine_view("GET")
def top(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    if c.status != "running":
        raise Conflict(f"Container {c.id} is not running")
    result = run_on_node(c.node, tasks.container_top, c.id, request.GET.get("ps_args") or "-ef")
    return JsonResponse(result)


@engine_view("GET")
def changes(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    result = run_on_node(c.node, tasks.container_changes, c.id, c.image_id)
    return JsonResponse(result or None, safe=False)


@engine_view("POST")
def commit(request, actor):
    ref = request.GET.get("container", "")
    c = svc.resolve_container(actor, ref)
    overrides = parse_body(request, CommitConfig, optional=True).model_dump(exclude_none=True)
    options = {
        "config_overrides": overrides or None,
        "comment": request.GET.get("comment", ""),
        "author": request.GET.get("author", ""),
        "created_by": "",
        # Docker freezes the container for the commit unless asked `pause=0`.
        "pause": flag(request, "pause", default=True),
    }
    repo, tag = request.GET.get("repo", ""), request.GET.get("tag", "")
    image_id = images_svc.do_commit(actor, c, repo, tag, options)
    return JsonResponse({"Id": image_id}, status=201)


@engine_view("POST")
async def attach(request, actor, ref):
    c = await sync_to_async(svc.resolve_container)(actor, ref)
    args = {
        "cid": c.id,
        "stdin": flag(request, "stdin") and bool(c.config.get("OpenStdin")),
        "stdout": flag(request, "stdout"),
        "stderr": flag(request, "stderr"),
    }
    keys = detach_keys(request, "", "Invalid detach keys ({}) provided")
    node_name = await sync_to_async(lambda: c.node.name)()
    stream = await Stream(node_name, "attach", args).open()
    spec = {"tty": bool(c.config.get("Tty")), "stdin": args["stdin"], "detach_keys": keys}
    return hijack({**spec, "node": node_name, "kind": "attach", "stream": hand_over(stream)})


def _wait_done(c: Container | None, condition: str, start_exit: tuple) -> bool:
    if condition == "removed":
        return c is None
    if c is None:
        return True
    if condition == "next-exit":
        return not c.running and (c.finished_at, c.start_count) != start_exit
    return not c.running


@engine_view("POST")
async def wait(request, actor, ref):
    c = await sync_to_async(svc.resolve_container)(actor, ref)
    condition = request.GET.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition {condition!r}")
    first = (c.finished_at, c.start_count) if c.running is False else (None, None)
    outcome = {"StatusCode": c.exit_code, "Error": {"Message": c.error} if c.error else None}

    # Subscribed before the headers go out: the CLI starts a `--rm` container as soon as
    # they arrive, and its die event must not be missed.
    sub = await Subscription([container_group(c.id)]).__aenter__()

    async def result():
        try:
            while True:
                fresh = await Container.objects.filter(id=c.id).afirst()
                if fresh is not None:
                    outcome["StatusCode"] = fresh.exit_code
                    outcome["Error"] = {"Message": fresh.error} if fresh.error else None
                if _wait_done(fresh, condition, first):
                    yield json.dumps(outcome).encode() + b"\n"
                    return
                try:
                    event = await asyncio.wait_for(sub.next(), 5.0)
                except TimeoutError:
                    continue
                # A `--rm` container can be gone before the row is read again: its
                # exit code survives in the die event.
                if event["Action"] == "die":
                    outcome["StatusCode"] = int(event["Actor"]["Attributes"]["exitCode"])
        finally:
            await sub.__aexit__()

    # Streamed so the client sees the headers at once, as Docker sends them.
    return StreamingHttpResponse(result(), content_type="application/json")


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadRequest(f"invalid time {value!r}") from None


# A sync view that opens its stream on the event loop and hands it the body: an async view
# pays two thread switches per middleware before it runs, this one a switch for them all and
# a trip to the loop (`docker logs` asks for the container first, so both are on its path).
@engine_view("GET")
def container_logs(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
    if not stdout and not stderr:
        raise BadRequest("You must choose at least one stream")
    tail = request.GET.get("tail", "all")
    args = {
        "cid": c.id,
        "stdout": stdout,
        "stderr": stderr,
        "follow": flag(request, "follow"),
        "timestamps": flag(request, "timestamps"),
        "since": _since(request.GET.get("since")),
        "until": _since(request.GET.get("until")),
        "tail": None if tail in ("all", "") else _int(tail, "tail"),
    }
    stream = async_to_sync(Stream(c.node.name, "logs", args).open)()
    tty = bool(c.config.get("Tty"))

    async def body():
        try:
            async for fd, data in stream.frames():
                yield data if tty else wire.frame(fd, data)
        finally:
            await stream.cancel()

    content_type = (
        "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    )
    return StreamingHttpResponse(body(), content_type=content_type)


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {value!r}") from None


@engine_view("GET")
def container_stats(request, actor, ref):
    """A sync view for the reason container_logs is."""
    c = svc.resolve_container(actor, ref)
    if c.status != "running":
        empty = {"id": c.id, "name": f"/{c.name}", "read": "0001-01-01T00:00:00Z"}
        return JsonResponse(empty)
    streaming = flag(request, "stream", True)
    args = {"cid": c.id, "name": c.name, "stream": streaming}
    stream = async_to_sync(Stream(c.node.name, "stats", args).open)()

    return StreamingHttpResponse(stream.data(), content_type="application/json")


def _path_stat_header(stat: dict) -> str:
    return base64.b64encode(json.dumps(stat).encode()).decode()


@engine_view("GET", "HEAD", "PUT")
async def archive(request, actor, ref):
    c = await sync_to_async(svc.resolve_container)(actor, ref)
    path = request.GET.get("path")
    if not path:
        raise BadRequest("path is required")
    node_name = await sync_to_async(lambda: c.node.name)()
    if request.method == "PUT":
        return await _put_archive(request, c, node_name, path)
    stat = await sync_to_async(run_on_node)(c.node, tasks.container_path_stat, c.id, path)
    header = _path_stat_header(stat)
    if request.method == "HEAD":
        response = HttpResponse(status=200)
        response["X-Docker-Container-Path-Stat"] = header
        return response
    stream = await Stream(node_name, "archive_get", {"cid": c.id, "path": path}).open()

    response = StreamingHttpResponse(stream.data(), content_type="application/x-tar")
    response["X-Docker-Container-Path-Stat"] = header
    return response


async def _put_archive(request, c: Container, node_name: str, path: str) -> HttpResponse:
    stream = await Stream(node_name, "archive_put", {"cid": c.id, "path": path}).open()
    while chunk := await sync_to_async(request.read)(1 << 16):
        await stream.write(chunk)
    await stream.eof()
    await stream.drain()
    return HttpResponse(status=200)
