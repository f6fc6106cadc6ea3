import contextlib
import io
import json
import posixpath
import stat
import tarfile
import tempfile

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from engine import tasks
from engine.api.render import container_inspect
from engine.errors import ApiError
from engine.models import Container
from engine.nodes import local_node, run_on_node
from engine.services import containers as svc
from engine.services.access import visible_containers
from engine.streams.client import Stream, StreamError

from ..access import actor_of, container_for, page
from ..audit import record
from ..forms import RunForm
from ..rows import container_rows

STATES = ["running", "paused", "exited", "created", "restarting", "dead"]
TABS = ["overview", "logs", "stats", "terminal", "processes", "changes", "files"]
# The file browser reads a directory's tar stream only up to here.
MAX_LISTING = 2000
MAX_DOWNLOAD = 512 * 1024 * 1024
_TYPE_BITS = {
    tarfile.DIRTYPE: stat.S_IFDIR,
    tarfile.SYMTYPE: stat.S_IFLNK,
    tarfile.REGTYPE: stat.S_IFREG,
}


def filtered(request):
    qs = visible_containers(actor_of(request.user))
    state = request.GET.get("state", "")
    if state in STATES:
        qs = qs.filter(status=state)
    if q := request.GET.get("q", "").strip():
        qs = qs.filter(name__icontains=q) | qs.filter(image_ref__icontains=q)
    if request.GET.get("mine"):
        qs = qs.filter(owner=request.user)
    return qs


@page
def container_list(request):
    rows = container_rows(filtered(request))
    return render(
        request,
        "webui/containers.html",
        {"rows": rows, "states": STATES, "filters": request.GET},
    )


@page
def container_list_json(request):
    return JsonResponse({"containers": container_rows(filtered(request))})


ACTIONS = {
    "start": lambda c: svc.do_start(c),
    "stop": lambda c: svc.do_stop(c),
    "restart": lambda c: svc.do_restart(c),
    "kill": lambda c: svc.do_kill(c),
    "pause": lambda c: svc.do_pause(c),
    "unpause": lambda c: svc.do_unpause(c),
    "remove": lambda c: svc.do_remove(c, force=True),
}


def _apply(request, c: Container, action: str) -> None:
    try:
        ACTIONS[action](c)
    except svc.NotModifiedStart:
        return
    if action != "remove":
        record(request.user, f"container.{action}", c.name, id=c.id)


@require_POST
@page
def container_action(request, cid, action):
    if action not in ACTIONS:
        raise Http404
    c = container_for(request.user, cid)
    _apply(request, c, action)
    if action == "remove":
        messages.success(request, f"Removed {c.name}")
        return redirect("webui:home")
    return redirect("webui:container", cid=c.id)


@require_POST
@page
def bulk_action(request):
    action = request.POST.get("action", "")
    if action not in ("start", "stop", "remove"):
        raise Http404
    done, failed = 0, []
    for c in visible_containers(actor_of(request.user)).filter(id__in=request.POST.getlist("id")):
        try:
            _apply(request, c, action)
            done += 1
        except ApiError as e:
            failed.append(f"{c.name}: {e.message}")
    if done:
        messages.success(request, f"{action}: {done} container(s)")
    for line in failed:
        messages.error(request, line)
    return redirect("webui:home")


@page
def run(request):
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actor = actor_of(request.user)
        try:
            c = svc.do_create_container(
                actor, local_node(), form.create_body(), form.cleaned_data["name"]
            )
            svc.do_start(c)
        except ApiError as e:
            form.add_error(None, e.message)
        else:
            return redirect("webui:container", cid=c.id)
    return render(request, "webui/run.html", {"form": form})


@page
def container_detail(request, cid, tab="overview"):
    if tab not in TABS:
        raise Http404
    c = container_for(request.user, cid)
    context = {"c": c, "row": container_rows(Container.objects.filter(id=c.id))[0], "tab": tab}
    context["tabs"] = TABS
    if tab == "overview":
        context["inspect"] = json.dumps(container_inspect(c), indent=2)
    elif tab == "processes" and c.status == Container.Status.RUNNING:
        context["top"] = run_on_node(c.node, tasks.container_top, c.id, "-ef")
    elif tab == "changes":
        kinds = {0: "changed", 1: "added", 2: "deleted"}
        changes = run_on_node(c.node, tasks.container_changes, c.id, c.image_id) or []
        context["changes"] = [{"path": x["Path"], "kind": kinds[x["Kind"]]} for x in changes]
    elif tab == "terminal":
        context["shell"] = request.GET.get("cmd", "/bin/sh")
    return render(request, "webui/container.html", context)


async def _stream(c: Container, kind: str, args: dict) -> Stream:
    node = await sync_to_async(lambda: c.node.name)()
    return await Stream(node, kind, args).open()


async def _user(request):
    user = await request.auser()
    if not user.is_authenticated:
        raise Http404
    return user


async def _container(request, cid):
    user = await _user(request)
    return await sync_to_async(container_for)(user, cid)


async def download_logs(request: HttpRequest, cid: str) -> HttpResponseBase:
    """The whole log as a file, streamed as the node reads it, with back-pressure.

    The response has no length: a stream that fails part way raises out of the body, and the
    server then drops the connection without the body's last chunk, so the browser reports a
    failed download instead of keeping a shorter log.
    """
    c = await _container(request, cid)
    args = {"cid": c.id, "stdout": True, "stderr": True, "follow": False}
    args["timestamps"] = request.GET.get("timestamps") == "1"
    try:
        stream = await _stream(c, "logs", args)
    except StreamError as e:
        return JsonResponse({"message": e.message}, status=e.status)

    response = StreamingHttpResponse(stream.data(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{c.name}.log"'
    return response


async def _tar_of(c: Container, path: str, limit: int):
    """The container's tar of `path`, spooled to a temp file, up to `limit` bytes."""
    stream = await _stream(c, "archive_get", {"cid": c.id, "path": path})
    # Handed on to the response, which closes it.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        async for message in stream.messages():
            spool.write(message["data"])
            if spool.tell() > limit:
                break
    finally:
        await stream.cancel()
    spool.seek(0)
    return spool


@page
def files(request, cid):
    c = container_for(request.user, cid)
    path = posixpath.normpath("/" + request.GET.get("path", "/"))
    try:
        found = run_on_node(c.node, tasks.container_path_stat, c.id, path)
    except ApiError as e:
        return _files_page(request, c, path, [], e.message)
    is_dir = bool(found["mode"] & (1 << 31))
    if request.GET.get("download"):
        return _download(c, path, is_dir)
    if not is_dir:
        return _files_page(request, c, path, [], "", single=found)
    entries = _listing(async_to_sync(_tar_of)(c, path, 64 * 1024 * 1024))
    return _files_page(request, c, path, entries, "")


def _listing(spool) -> list[dict]:
    """The first level of a directory's tar, whose members sit under its base name ("." for /)."""
    entries: dict[str, dict] = {}
    top = None
    with (
        contextlib.suppress(tarfile.ReadError, EOFError),
        tarfile.open(fileobj=spool, mode="r|*") as tar,
    ):
        for member in tar:
            if top is None:
                top = member.name
                continue
            rel = member.name if top == "." else member.name.removeprefix(top + "/")
            if not rel or "/" in rel:
                continue
            entries[rel] = {
                "name": rel,
                "dir": member.isdir(),
                "link": member.linkname if member.issym() else "",
                "size": member.size,
                "mode": stat.filemode(member.mode | _TYPE_BITS.get(member.type, 0)),
            }
            if len(entries) >= MAX_LISTING:
                break
    return sorted(entries.values(), key=lambda e: (not e["dir"], e["name"]))


def _files_page(request, c, path, entries, error, single=None):
    parent = posixpath.dirname(path) if path != "/" else ""
    context = {"c": c, "tab": "files", "tabs": TABS, "path": path, "entries": entries}
    context.update(error=error, single=single, parent=parent)
    context["row"] = {"state": c.status, "name": c.name, "image": c.image_ref}
    return render(request, "webui/container.html", context)


def _download(c: Container, path: str, is_dir: bool):
    spool = async_to_sync(_tar_of)(c, path, MAX_DOWNLOAD)
    name = posixpath.basename(path) or "root"
    if is_dir:
        return FileResponse(spool, as_attachment=True, filename=f"{name}.tar")
    return FileResponse(io.BytesIO(_first_file(spool)), as_attachment=True, filename=name)


def _first_file(spool) -> bytes:
    with tarfile.open(fileobj=spool, mode="r|*") as tar:
        for member in tar:
            if member.isfile():
                return tar.extractfile(member).read()
    raise Http404
