"""/containers/{id}/exec and /exec/... of the Docker Engine API."""

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse

from ..errors import Conflict, NotFound
from ..models import ExecInstance
from ..services import containers as svc
from ..services.access import visible_containers
from ..services.execs import do_create_exec, exec_stream_args
from ..streams.client import Stream, hand_over
from .base import engine_view, int_param, parse_body
from .containers import hijack
from .detach import check_detach_keys, detach_keys
from .schemas import ExecCreate, ExecStart


def _exec(actor, exec_id: str) -> ExecInstance:
    found = (
        ExecInstance.objects.select_related("container__node")
        .filter(id=exec_id, container__in=visible_containers(actor))
        .first()
    )
    if found is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return found


@engine_view("POST")
def create(request, actor, ref):
    c = svc.resolve_container(actor, ref)
    body = parse_body(request, ExecCreate)
    # docker-py names the field detachKeys; dockerd matches JSON names in any case.
    body.DetachKeys = body.DetachKeys or (body.model_extra or {}).pop("detachKeys", "")
    check_detach_keys(body.DetachKeys, "Invalid escape keys ({}) provided")
    instance = do_create_exec(actor, c, body)
    return JsonResponse({"Id": instance.id}, status=201)


@engine_view("POST")
async def start(request, actor, exec_id):
    instance = await sync_to_async(_exec)(actor, exec_id)
    body = parse_body(request, ExecStart, optional=True)
    c = instance.container
    args = exec_stream_args(instance, detach=body.Detach)
    if instance.running or instance.exit_code is not None:
        raise Conflict(f"exec {exec_id} has already been started")
    stream = await Stream(c.node.name, "exec", args).open()
    if body.Detach:
        await stream.drain()
        return HttpResponse(status=200)
    default = instance.config["body"].get("DetachKeys", "")
    keys = detach_keys(request, default, "Invalid escape keys ({}) provided")
    spec = {"tty": bool(instance.config["spec"]["tty"]), "stdin": args["stdin"]}
    spec["detach_keys"] = keys
    return hijack({**spec, "node": c.node.name, "kind": "exec", "stream": hand_over(stream)})


@engine_view("POST")
async def resize(request, actor, exec_id):
    instance = await sync_to_async(_exec)(actor, exec_id)
    if not instance.running:
        raise Conflict(f"exec {exec_id} is not running")
    size = {"h": int_param(request, "h", 0), "w": int_param(request, "w", 0)}
    size["exec_id"] = instance.id
    stream = await Stream(instance.container.node.name, "exec_resize", size).open()
    await stream.drain()
    return HttpResponse(status=200)


@engine_view("GET")
def inspect(request, actor, exec_id):
    instance = _exec(actor, exec_id)
    body = instance.config["body"]
    spec = instance.config["spec"]
    return JsonResponse(
        {
            "ID": instance.id,
            "Running": instance.running,
            "ExitCode": instance.exit_code,
            "ProcessConfig": {
                "tty": spec["tty"],
                "entrypoint": spec["args"][0],
                "arguments": spec["args"][1:],
                "privileged": spec["privileged"],
                "user": spec["user"],
            },
            "OpenStdin": body["AttachStdin"],
            "OpenStderr": body["AttachStderr"],
            "OpenStdout": body["AttachStdout"],
            "CanRemove": False,
            "ContainerID": instance.container_id,
            "DetachKeys": body.get("DetachKeys", ""),
            "Pid": instance.pid,
        }
    )
