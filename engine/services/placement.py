"""Which node a new container goes to: pure logic over what each node has and holds.

A container names its node with the `dockyard.node=<name>` label, or narrows the choice with
constraints as Swarm wrote them (`node.hostname==<name>`, `node.labels.<k>==<v>`, `!=` for
the opposite), given in the `dockyard.constraint` label (several separated by commas) or in
Swarm classic's `constraint:` environment entries. Among the nodes that qualify, are up,
active and have room for the container's memory and CPU reservation, the least loaded wins:
fewest containers, then the smallest share of memory reserved, then the name.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NODE_LABEL = "dockyard.node"
CONSTRAINT_LABEL = "dockyard.constraint"
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(==|!=)\s*(\S.*?)\s*$")


class NoNodeFits(Exception):
    """No node can take the container; the message says why."""


@dataclass(frozen=True)
class NodeLoad:
    """What placement knows of a node. `schedulable`: up, active and not revoked."""

    name: str
    schedulable: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    cpus: float = 0
    memory: int = 0
    reserved_cpus: float = 0
    reserved_memory: int = 0
    containers: int = 0


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def holds(self, node: NodeLoad) -> bool:
        if self.key in ("node.hostname", "node", "node.name"):
            found: str | None = node.name
        else:
            found = node.labels.get(self.key.removeprefix("node.labels."))
        return (found == self.value) == self.equal

    def __str__(self) -> str:
        return f"{self.key}{'==' if self.equal else '!='}{self.value}"


@dataclass(frozen=True)
class Request:
    """What the container asks for: a node by name, constraints, and its reservation."""

    node: str = ""
    constraints: tuple[Constraint, ...] = ()
    cpus: float = 0
    memory: int = 0


def parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if match is None:
        raise ValueError(f"invalid constraint {text!r}: expected key==value or key!=value")
    key, op, value = match.groups()
    return Constraint(key, op == "==", value)


def request_for(labels: Mapping[str, str], env: Iterable[str], cpus: float, memory: int) -> Request:
    """The placement request of a container with these labels, environment and limits.

    Raises ValueError for a constraint that does not parse."""
    texts = [t for t in (labels.get(CONSTRAINT_LABEL) or "").split(",") if t.strip()]
    texts += [e.split(":", 1)[1] for e in env if e.startswith("constraint:")]
    return Request(
        node=(labels.get(NODE_LABEL) or "").strip(),
        constraints=tuple(parse_constraint(t) for t in texts),
        cpus=cpus,
        memory=memory,
    )


def _room(node: NodeLoad, request: Request) -> bool:
    if request.memory and node.memory and node.reserved_memory + request.memory > node.memory:
        return False
    return not (request.cpus and node.cpus and node.reserved_cpus + request.cpus > node.cpus)


def _load(node: NodeLoad) -> tuple:
    memory_share = node.reserved_memory / node.memory if node.memory else 0.0
    return (node.containers, memory_share, node.name)


def place(request: Request, nodes: Iterable[NodeLoad]) -> str:
    """The name of the node the container goes to; NoNodeFits says why there is none."""
    candidates = list(nodes)
    if request.node:
        candidates = [n for n in candidates if n.name == request.node]
        if not candidates:
            raise NoNodeFits(f"no node named {request.node!r} ({NODE_LABEL} label)")
    for constraint in request.constraints:
        candidates = [n for n in candidates if constraint.holds(n)]
        if not candidates:
            raise NoNodeFits(f"no node satisfies the constraint {constraint}")
    up = [n for n in candidates if n.schedulable]
    if not up:
        names = ", ".join(sorted(n.name for n in candidates))
        raise NoNodeFits(f"no node is up and active among {names}")
    roomy = [n for n in up if _room(n, request)]
    if not roomy:
        raise NoNodeFits("no node has room for the container's memory and CPU reservation")
    return min(roomy, key=_load).name
