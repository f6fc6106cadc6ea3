import json
import posixpath
import stat

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from engine import tasks
from engine.api.render import container_inspect
from engine.errors import ApiError
from engine.models import Container
from engine.nodes import run_on_node
from engine.services import containers as svc
from engine.services.access import visible_containers
from engine.services.nodes import place_container
from engine.streams.client import Stream, StreamError

from ..access import actor_of, container_for, page
from ..audit import record
from ..forms import RunForm
from ..rows import container_rows

STATES = ["running", "paused", "exited", "created", "restarting", "dead"]
TABS = ["overview", "logs", "stats", "terminal", "processes", "changes", "files"]
# The file browser lists at most this many entries of a directory (the first by name).
MAX_LISTING = 2000
# Go's os.ModeDir bit, in the mode the engine's path stat reports (as Docker's does).
GO_DIR = 1 << 31


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
            body = form.create_body()
            node = place_container(actor, body)
            c = svc.do_create_container(actor, node, body, form.cleaned_data["name"])
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
        health = c.health or {}
        # Newest probe first: the one a user looks for when a container turns unhealthy.
        context["probes"] = list(reversed(health.get("Log") or []))
        context["failing"] = health.get("FailingStreak", 0)
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


def _browsed_path(request: HttpRequest) -> str:
    return posixpath.normpath("/" + request.GET.get("path", "/"))


async def files(request: HttpRequest, cid: str) -> HttpResponseBase:
    """The file browser; `download=1` streams the file, or the directory as a tar."""
    if request.GET.get("download"):
        return await _download(request, cid)
    return await sync_to_async(_browse)(request, cid)


@page
def _browse(request, cid):
    c = container_for(request.user, cid)
    path = _browsed_path(request)
    try:
        found = run_on_node(c.node, tasks.container_path_stat, c.id, path)
        if not found["mode"] & GO_DIR:
            return _files_page(request, c, path, [], "", single=found)
        listed = run_on_node(c.node, tasks.container_list_dir, c.id, path, MAX_LISTING)
    except ApiError as e:
        return _files_page(request, c, path, [], e.message)
    return _files_page(request, c, path, _listing(listed), "")


def _listing(listed: list[dict]) -> list[dict]:
    entries = [
        {
            "name": e["name"],
            "dir": stat.S_ISDIR(e["mode"]),
            "link": e["link_target"],
            "size": e["size"],
            "mode": stat.filemode(e["mode"]),
        }
        for e in listed
    ]
    return sorted(entries, key=lambda e: (not e["dir"], e["name"]))


def _files_page(request, c, path, entries, error, single=None, status=200):
    parent = posixpath.dirname(path) if path != "/" else ""
    context = {"c": c, "tab": "files", "tabs": TABS, "path": path, "entries": entries}
    context.update(error=error, single=single, parent=parent)
    context["row"] = {"state": c.status, "name": c.name, "image": c.image_ref}
    return render(request, "webui/container.html", context, status=status)


async def _download(request: HttpRequest, cid: str) -> HttpResponseBase:
    """The file, or the directory's tar, streamed from the node as the browser takes it.

    Nothing is held whole in this process: each piece the agent reads goes on to the
    browser, and a slow browser slows the agent's read. Past DOCKYARD_DASHBOARD_MAX_DOWNLOAD
    the download is refused with the files page and its message; a directory that grows
    past it while it streams ends the response short, which the browser reports as a failed
    download rather than keeping a cut tar.
    """
    c = await _container(request, cid)
    path = _browsed_path(request)
    cap = settings.DOCKYARD_DASHBOARD_MAX_DOWNLOAD
    name = posixpath.basename(path) or "root"
    try:
        found = await sync_to_async(run_on_node)(c.node, tasks.container_path_stat, c.id, path)
        is_dir = bool(found["mode"] & GO_DIR)
        if is_dir:
            size = await sync_to_async(run_on_node)(
                c.node, tasks.container_tree_size, c.id, path, cap
            )
            if size > cap:
                return await _too_large(request, c, path, cap)
            stream = await _stream(c, "archive_get", {"cid": c.id, "path": path, "max_bytes": cap})
        else:
            stream = await _stream(c, "archive_file", {"cid": c.id, "path": path, "max_bytes": cap})
        body = stream.data()
        # The agent's refusal (too large, not a regular file) comes before any byte: it is
        # the answer, not a broken download.
        first = await anext(body, b"")
    except StreamError as e:
        if e.status == 413:
            return await _too_large(request, c, path, cap)
        return await sync_to_async(_files_page)(request, c, path, [], e.message, None, e.status)
    except ApiError as e:
        return await sync_to_async(_files_page)(request, c, path, [], e.message, None, e.status)

    async def pieces():
        try:
            yield first
            async for piece in body:
                yield piece
        finally:
            # A browser that goes away ends the agent's read at once.
            await body.aclose()

    kind = "application/x-tar" if is_dir else "application/octet-stream"
    response = StreamingHttpResponse(pieces(), content_type=kind)
    filename = f"{name}.tar" if is_dir else name
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


async def _too_large(request, c: Container, path: str, cap: int) -> HttpResponseBase:
    message = (
        f"{path} is larger than the dashboard's download limit of {filesizeformat(cap)}: "
        "copy it with docker cp instead."
    )
    return await sync_to_async(_files_page)(request, c, path, [], message, None, 413)
