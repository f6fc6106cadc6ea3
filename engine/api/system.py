"""_ping, version, info, events."""

import asyncio
import json
import os
import platform
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from .. import events
from ..errors import BadRequest
from ..models import Image
from ..nodes import local_node
from ..services.access import visible_containers
from ..services.containers import OCI_RUNTIME
from ..services.images import ImageView
from ..services.nodes import system_status
from .base import API_VERSION, MIN_API_VERSION, engine_view, parse_filters
from .swarm import SWARM_STATE

VERSION = "0.1.0"


# Every ping's answer; the gateway answers the node administrator's pings with it too
# (gateway/admin_ping.py).
PING_HEADERS = {
    "Content-Type": "text/plain",
    "API-Version": API_VERSION,
    "Docker-Experimental": "false",
    "OSType": "linux",
    # The legacy builder: the docker CLI here has no buildx, so it sends builds to /build.
    "Builder-Version": "1",
    "Swarm": SWARM_STATE,
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


def ping_body(method: str) -> bytes:
    return b"" if method == "HEAD" else b"OK"


@engine_view("GET", "HEAD")
def ping(request, actor):
    response = HttpResponse(ping_body(request.method))
    for name, value in PING_HEADERS.items():
        response[name] = value
    return response


@engine_view("GET")
def version(request, actor):
    uname = os.uname()
    return JsonResponse(
        {
            "Platform": {"Name": "Dockyard"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": VERSION,
                    "Details": {
                        "ApiVersion": API_VERSION,
                        "MinAPIVersion": MIN_API_VERSION,
                        "Os": "linux",
                        "Arch": _arch(),
                        "KernelVersion": uname.release,
                        "OCIRuntime": OCI_RUNTIME,
                    },
                }
            ],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": f"python{platform.python_version()}",
            "Os": "linux",
            "Arch": _arch(),
            "KernelVersion": uname.release,
            "BuildTime": "",
        }
    )


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@engine_view("GET")
def info(request, actor):
    node = local_node()
    # Counted as the asker sees the node: other users' containers and images are not theirs
    # to know of.
    # A cluster's containers are on every node; `docker info` counts them all, as Swarm did.
    containers = visible_containers(actor)
    running = containers.filter(status="running").count()
    paused = containers.filter(status="paused").count()
    total = containers.count()
    if actor.admin:
        images = Image.objects.filter(node=node).count()
    else:
        images = len(ImageView(actor, node).images())
    return JsonResponse(
        {
            "ID": f"dockyard-{node.name}",
            "Containers": total,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": total - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "overlay"]],
            "SystemStatus": system_status(),
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": []},
            "MemoryLimit": True,
            "SwapLimit": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "OomKillDisable": False,
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": node.cgroup_version or "1",
            "KernelVersion": os.uname().release,
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "IndexServerAddress": "",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
            "DockerRootDir": str(settings.DOCKYARD_ROOT),
            "Name": node.name,
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": VERSION,
            "Runtimes": {OCI_RUNTIME: {"path": OCI_RUNTIME}},
            "DefaultRuntime": OCI_RUNTIME,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": SWARM_STATE,
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=no-new-privileges"],
            "Warnings": [],
        }
    )


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _seconds(request, name: str) -> float | None:
    value = request.GET.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a unix time in seconds, got {value!r}") from None


@engine_view("GET")
async def events_stream(request, actor):
    since, until = _seconds(request, "since"), _seconds(request, "until")
    filters = parse_filters(request)

    def wanted(event: dict) -> bool:
        if filters.get("type") and event["Type"] not in filters["type"]:
            return False
        names = filters.get("container")
        if names and event["Type"] == "container":
            actor_info = event["Actor"]
            if actor_info["ID"] not in names and actor_info["Attributes"].get("name") not in names:
                return False
        return until is None or event["timeNano"] <= until * 1_000_000_000

    async def lines():
        async with events.Subscription([events.ALL]) as sub:
            replayed = 0
            if since is not None:
                for event in await sync_to_async(events.history)(since):
                    replayed = event["timeNano"]
                    if wanted(event) and await sync_to_async(_may_see)(actor, event):
                        yield json.dumps(event).encode() + b"\n"
            while True:
                timeout = None if until is None else max(0.0, until - time.time())
                try:
                    event = await asyncio.wait_for(sub.next(), timeout)
                except TimeoutError:
                    return
                if event["timeNano"] <= replayed:
                    continue
                if wanted(event) and await sync_to_async(_may_see)(actor, event):
                    yield json.dumps(event).encode() + b"\n"

    return StreamingHttpResponse(lines(), content_type="application/json")


def _may_see(actor, event: dict) -> bool:
    if actor.admin:
        return True
    if event["Type"] != "container":
        return False
    return visible_containers(actor).filter(id=event["Actor"]["ID"]).exists()
