"""Exec use cases: a process started inside a running container."""

import secrets

from platformkit.prepared import PreparedLookup

from ..api.schemas import ExecCreate
from ..errors import Conflict, Forbidden
from ..models import Container, ExecInstance
from ..specs import exec_spec
from .access import Actor

# `docker inspect` lists them, and `docker logs` inspects first: compiled once (see
# platformkit/prepared.py).
_RUNNING = PreparedLookup(
    lambda cid: ExecInstance.objects.filter(container_id=cid, running=True), cid="\0cid"
)


def running_exec_ids(c: Container) -> list[str]:
    return [instance.id for instance in _RUNNING.all(cid=c.id)]


def do_create_exec(actor: Actor, c: Container, body: ExecCreate) -> ExecInstance:
    if c.status != Container.Status.RUNNING:
        raise Conflict(f"Container {c.id} is not running")
    if body.Privileged and not actor.admin:
        raise Forbidden("privileged exec is for administrators")
    return ExecInstance.objects.create(
        id=secrets.token_hex(32),
        container=c,
        config={"body": body.model_dump(), "spec": exec_spec(body, c.config)},
    )


def exec_stream_args(instance: ExecInstance, detach: bool = False) -> dict:
    """What the node agent's "exec" stream needs to start this instance."""
    return {
        "cid": instance.container_id,
        "exec_id": instance.id,
        "spec": instance.config["spec"],
        "stdin": instance.config["body"]["AttachStdin"],
        "detach": detach,
    }
