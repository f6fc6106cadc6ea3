"""Docker's legacy links (`docker run --link other:alias`).

A link is checked when the container is created, with the creator's rights (a container the
creator cannot see is refused exactly as one that does not exist), and kept in
HostConfig.Links in Docker's form, `/other:/me/alias`. Each start finds the linked
containers again with the owner's rights, as running ones: their address goes into the
hosts file under the alias, and, on the default bridge, Docker's link variables
(`ALIAS_PORT_80_TCP=...`, `ALIAS_NAME=/me/alias`, `ALIAS_ENV_...`) into the process's
environment, under its own.
"""

from dataclasses import dataclass

from accounts.actors import NODE_ADMIN, actor_for

from ..errors import BadRequest, Conflict
from ..models import Container, Node
from .access import Actor, visible_containers

DEFAULT_NETWORK = "bridge"
# Variables Docker's builder sets that say nothing of the linked container.
_NOT_FORWARDED = ("HOME", "PATH")


@dataclass(frozen=True)
class Link:
    """A started container's view of one link: the container and the name it goes by."""

    target: Container
    name: str
    alias: str
    address: str


def _parse(entry: str) -> tuple[str, str]:
    name, _, alias = entry.partition(":")
    name, alias = name.strip("/"), (alias or name).strip("/")
    if not name or not alias or "/" in name or ":" in alias:
        raise BadRequest(f"invalid link format: {entry!r}, expected name:alias")
    return name, alias.rpartition("/")[2]


def _find(actor: Actor, node: Node, name: str) -> Container | None:
    qs = visible_containers(actor).filter(node=node)
    return qs.filter(name=name).first() or qs.filter(id=name).first()


def check_links(actor: Actor, node: Node, host: dict, name: str) -> list[str]:
    """The create request's links in Docker's stored form; each must name a container the
    actor may see on the node, and the network mode must be one that links can reach."""
    entries = host.get("Links") or []
    if not entries:
        return []
    mode = host.get("NetworkMode") or DEFAULT_NETWORK
    if mode == "host":
        raise BadRequest(
            "conflicting options: host type networking can't be used with links. This would "
            "result in undefined behavior"
        )
    if mode.startswith("container:"):
        raise BadRequest("conflicting options: container type network can't be used with links")
    stored = []
    for entry in entries:
        target_name, alias = _parse(entry)
        target = _find(actor, node, target_name)
        if target is None:
            # Docker's 400, not a 404: on a 404 from create the docker CLI takes the image for
            # missing, pulls it and reports that instead (moby#39823).
            raise BadRequest(
                f"could not get container for {target_name}: No such container: {target_name}"
            )
        stored.append(f"/{target.name}:/{name}/{alias}")
    return stored


def _address(target: Container) -> str:
    attachments = list(target.attachments.select_related("network"))
    on_default = [a for a in attachments if a.network.name == DEFAULT_NETWORK and a.ip]
    with_ip = on_default or [a for a in attachments if a.ip]
    return with_ip[0].ip if with_ip else ""


def links_of(c: Container) -> list[Link]:
    """The containers `c` links to, found with its owner's rights; each must be running."""
    entries = c.host_config.get("Links") or []
    if not entries:
        return []
    actor = actor_for(c.owner) if c.owner_id else NODE_ADMIN
    found = []
    for entry in entries:
        target_path, _, link_name = entry.partition(":")
        target = _find(actor, c.node, target_path.strip("/"))
        if target is None or not target.running:
            raise Conflict(f"Cannot link to a non running container: {target_path} AS {link_name}")
        alias = link_name.rpartition("/")[2]
        found.append(Link(target=target, name=link_name, alias=alias, address=_address(target)))
    return found


def link_hosts(links: list[Link]) -> list[list[str]]:
    """Hosts file entries: the alias, the linked container's hostname and its name."""
    out = []
    for link in links:
        if not link.address:
            continue
        names = [link.alias, link.target.config.get("Hostname") or link.target.id[:12]]
        names.append(link.target.name)
        out.append([" ".join(dict.fromkeys(names)), link.address])
    return out


def _ports(exposed: dict | None) -> list[tuple[int, str]]:
    ports = []
    for key in exposed or {}:
        number, _, proto = key.partition("/")
        if number.isdigit():
            ports.append((int(number), (proto or "tcp").lower()))
    # TCP first, then by protocol name; by number within a protocol (Docker's order).
    return sorted(set(ports), key=lambda p: (p[1] != "tcp", p[1], p[0]))


def link_env(link: Link) -> list[str]:
    """Docker's variables for one link: the first port, each port, runs of consecutive
    ports as _START/_END, the link's name and the linked container's environment."""
    alias = link.alias.upper().replace("-", "_")
    ip = link.address
    ports = _ports(link.target.config.get("ExposedPorts"))
    env = []
    if ports:
        number, proto = ports[0]
        env.append(f"{alias}_PORT={proto}://{ip}:{number}")
    start = 0
    for i, (number, proto) in enumerate(ports):
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{ip}:{number}",
            f"{prefix}_ADDR={ip}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        following = ports[i + 1] if i + 1 < len(ports) else None
        if following == (number + 1, proto):
            continue
        first, first_proto = ports[start]
        if i > start:
            prefix = f"{alias}_PORT_{first}_{first_proto.upper()}"
            env += [
                f"{prefix}_START={first_proto}://{ip}:{first}",
                f"{prefix}_PORT_START={first}",
                f"{prefix}_END={proto}://{ip}:{number}",
                f"{prefix}_PORT_END={number}",
            ]
        start = i + 1
    env.append(f"{alias}_NAME={link.name}")
    for item in link.target.config.get("Env") or []:
        key, sep, value = item.partition("=")
        if sep and key not in _NOT_FORWARDED:
            env.append(f"{alias}_ENV_{key}={value}")
    return env


def links_env(c: Container, links: list[Link]) -> list[str]:
    """The variables of all of `c`'s links; like Docker's, only on the default bridge (on a
    user network a link is a name, not an environment)."""
    if not c.attachments.filter(network__name=DEFAULT_NETWORK).exists():
        return []
    return [item for link in links for item in link_env(link)]


def _renamed(entry: str, old: str, new: str) -> str:
    """A stored link `/target:/parent/alias` with `old` renamed `new` in either place."""
    target, _, name = entry.partition(":")
    if target == f"/{old}":
        target = f"/{new}"
    if name.startswith(f"/{old}/"):
        name = f"/{new}/{name[len(old) + 2 :]}"
    return f"{target}:{name}"


def follow_rename(c: Container, old: str, new: str) -> None:
    """Links to and from `c` under its new name (Docker keeps them through a rename); inside
    the caller's transaction."""
    linking = Container.objects.filter(node=c.node, host_config__has_key="Links")
    for holder in linking.select_for_update():
        entries = holder.host_config.get("Links") or []
        moved = [_renamed(entry, old, new) for entry in entries]
        if moved != entries:
            holder.host_config["Links"] = moved
            holder.save(update_fields=["host_config"])
            if holder.id == c.id:
                c.host_config = holder.host_config
