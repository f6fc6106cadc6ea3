"""ORM rows in the shapes of the Docker Engine API."""

import os
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Prefetch

from ..models import Container, Image, Network, NetworkAttachment
from ..services.execs import running_exec_ids
from ..services.health import check_of, status_suffix
from ..services.networks.attachments import attachments_of
from ..services.nodes import node_of, shown_state

ZERO_TIME = "0001-01-01T00:00:00Z"
# A container's attachments with their networks, whose names they are shown under: one query.
ATTACHMENTS = Prefetch("attachments", queryset=NetworkAttachment.objects.select_related("network"))


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration, which `docker ps` shows."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def _since(stamp: str) -> float:
    try:
        parsed = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - parsed).total_seconds()


def status_text(c: Container) -> str:
    if c.status == Container.Status.RUNNING:
        return f"Up {human_duration(_since(c.started_at))}{status_suffix(c)}"
    if c.status == Container.Status.PAUSED:
        return f"Up {human_duration(_since(c.started_at))} (Paused)"
    if c.status == Container.Status.RESTARTING:
        return f"Restarting ({c.exit_code}) {human_duration(_since(c.finished_at))} ago"
    if c.status == Container.Status.EXITED:
        return f"Exited ({c.exit_code}) {human_duration(_since(c.finished_at))} ago"
    if c.status == Container.Status.REMOVING:
        return "Removal In Progress"
    if c.status == Container.Status.DEAD:
        return "Dead"
    return "Created"


def _status_text(c: Container) -> str:
    if shown_state(c) == "unknown":
        return "Unknown (its node is down)"
    return status_text(c)


def command_text(c: Container) -> str:
    return " ".join([*(c.config.get("Entrypoint") or []), *(c.config.get("Cmd") or [])])


def container_summary(c: Container) -> dict:
    return {
        "Id": c.id,
        "Names": [f"/{c.name}"],
        "Image": c.image_ref,
        "ImageID": c.image_id,
        "Command": command_text(c),
        "Created": int(c.created.timestamp()),
        "Ports": port_list(c),
        "Labels": c.config.get("Labels") or {},
        "State": shown_state(c),
        "Status": _status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "bridge"},
        "NetworkSettings": {"Networks": endpoint_settings(c, list(c.attachments.all()))},
        "Mounts": list(c.mounts or []),
    }


def log_config(host_config: dict) -> dict:
    """Logs are kept per line with stream and time, which `docker logs` reads like json-file."""
    given = host_config.get("LogConfig") or {}
    return {"Type": given.get("Type") or "json-file", "Config": given.get("Config") or {}}


def container_inspect(c: Container, log_path: str = "") -> dict:
    args = [*(c.config.get("Entrypoint") or []), *(c.config.get("Cmd") or [])]
    return {
        "Id": c.id,
        "Created": c.created.isoformat().replace("+00:00", "Z"),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": shown_state(c),
            "Running": c.status in ("running", "paused"),
            "Paused": c.status == "paused",
            "Restarting": c.status == "restarting",
            "OOMKilled": c.oom_killed,
            "Dead": c.status == "dead",
            "Pid": c.pid if c.running else 0,
            "ExitCode": c.exit_code,
            "Error": c.error,
            "StartedAt": c.started_at or ZERO_TIME,
            "FinishedAt": c.finished_at or ZERO_TIME,
            **_health(c),
        },
        "Image": c.image_id,
        "ResolvConfPath": _etc_path(c, "resolv.conf"),
        "HostnamePath": _etc_path(c, "hostname"),
        "HostsPath": _etc_path(c, "hosts"),
        "LogPath": log_path,
        "Name": f"/{c.name}",
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": running_exec_ids(c) or None,
        "HostConfig": {**c.host_config, "LogConfig": log_config(c.host_config)},
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "Mounts": list(c.mounts or []),
        "Config": c.config,
        "NetworkSettings": network_settings(c, attachments_of(c)),
        "Node": node_of(c),
    }


def _health(c: Container) -> dict:
    """State.Health, present (as with Docker) only for a container with a healthcheck."""
    if check_of(c.config) is None:
        return {}
    health = c.health or {}
    return {
        "Health": {
            "Status": health.get("Status") or "starting",
            "FailingStreak": health.get("FailingStreak") or 0,
            "Log": health.get("Log") or [],
        }
    }


def _published(c: Container) -> list:
    return list(c.ports.all()) if c.running else []


def _exposed(c: Container) -> list[str]:
    return list(c.config.get("ExposedPorts") or {})


def port_list(c: Container) -> list[dict]:
    """`docker ps`'s PORTS column: published ports while running, then exposed ones."""
    ports = [
        {
            "IP": p.host_ip,
            "PrivatePort": p.container_port,
            "PublicPort": p.host_port,
            "Type": p.proto,
        }
        for p in _published(c)
    ]
    shown = {f"{p['PrivatePort']}/{p['Type']}" for p in ports}
    for key in _exposed(c):
        port, _, proto = key.partition("/")
        if key not in shown and port.isdigit():
            ports.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return ports


def port_map(c: Container) -> dict:
    """NetworkSettings.Ports, which `docker port` reads."""
    ports: dict = {key: None for key in _exposed(c)} if c.running else {}
    for p in _published(c):
        ports.setdefault(f"{p.container_port}/{p.proto}", None)
        key = f"{p.container_port}/{p.proto}"
        ports[key] = [*(ports[key] or []), {"HostIp": p.host_ip, "HostPort": str(p.host_port)}]
    return ports


def _etc_path(c: Container, name: str) -> str:
    if (c.host_config.get("NetworkMode") or "").startswith("container:"):
        return ""
    return os.path.join(settings.DOCKYARD_ROOT, "network", "etc", c.id, name)


def endpoint_settings(c: Container, attachments: list[NetworkAttachment]) -> dict:
    """NetworkSettings.Networks: one entry per network of `attachments` (each with its
    network), with addresses while running."""
    mode = c.host_config.get("NetworkMode") or "bridge"
    if mode in ("host", "none"):
        net = Network.objects.filter(node_id=c.node_id, name=mode).first()
        return {mode: _endpoint(net.id if net else "", "", None, None)}
    if mode.startswith("container:"):
        return {}
    out = {}
    for a in attachments:
        live = c.running and a.ip
        names = None if a.network.builtin else [c.name, c.id[:12], *a.aliases]
        entry = _endpoint(a.network_id, a.endpoint_id if live else "", a.aliases or None, names)
        asked = {"IPv4Address": a.requested_ip, "IPv6Address": a.requested_ip6}
        entry["IPAMConfig"] = {k: v for k, v in asked.items() if v} or None
        if live:
            entry.update(
                MacAddress=a.mac, Gateway=a.gateway, IPAddress=a.ip, IPPrefixLen=a.prefixlen
            )
            if a.ip6:
                entry.update(
                    IPv6Gateway=a.gateway6,
                    GlobalIPv6Address=a.ip6,
                    GlobalIPv6PrefixLen=a.prefixlen6,
                )
        out[a.network.name] = entry
    return out


def _endpoint(net_id: str, endpoint_id: str, aliases, dns_names) -> dict:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": aliases,
        "MacAddress": "",
        "NetworkID": net_id,
        "EndpointID": endpoint_id,
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": dns_names,
    }


def network_settings(c: Container, attachments: list[NetworkAttachment]) -> dict:
    networks = endpoint_settings(c, attachments)
    default = networks.get("bridge") or {}
    sandbox = ""
    mode = c.host_config.get("NetworkMode") or "bridge"
    if c.running and mode not in ("host",) and not mode.startswith("container:"):
        sandbox = f"/run/netns/{settings.DOCKYARD_NETWORK_PREFIX}-{c.id[:12]}"
    return {
        "Bridge": "",
        "SandboxID": c.id if sandbox else "",
        "SandboxKey": sandbox,
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_map(c),
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default.get("EndpointID", ""),
        "Gateway": default.get("Gateway", ""),
        "GlobalIPv6Address": default.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": default.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": default.get("IPAddress", ""),
        "IPPrefixLen": default.get("IPPrefixLen", 0),
        "IPv6Gateway": default.get("IPv6Gateway", ""),
        "MacAddress": default.get("MacAddress", ""),
        "Networks": networks,
    }


def image_summary(image: Image, repo_digests: list[str] | None = None) -> dict:
    """`docker images` row; `repo_digests` as the asker may see them (all by default)."""
    from ..services import distribution

    repo_tags = image.tags or []
    if repo_digests is None:
        repo_digests = distribution.repo_digests(image)
    return {
        "Id": image.image_id,
        "ParentId": "",
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Created": int(image.created.timestamp()),
        "Size": image.size,
        "SharedSize": -1,
        "VirtualSize": image.size,
        "Labels": (image.config.get("config") or {}).get("Labels") or {},
        "Containers": -1,
    }


# Keys Docker writes into an image's Config even when empty (ExposedPorts, Healthcheck,
# StopSignal and Shell only when set): clients such as docker-compose 1.29 index them.
_IMAGE_CONFIG_KEYS = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def image_config(config: dict | None) -> dict:
    """An image's container config as Docker renders it: every key present."""
    return {**_IMAGE_CONFIG_KEYS, **(config or {})}


def image_inspect(image: Image, repo_digests: list[str] | None = None) -> dict:
    """`docker image inspect`; `repo_digests` as the asker may see them (all by default)."""
    from ..services import distribution

    config = image.config
    if repo_digests is None:
        repo_digests = distribution.repo_digests(image)
    return {
        "Id": image.image_id,
        "RepoTags": image.tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": next((h.get("comment", "") for h in reversed(config.get("history") or [])), ""),
        "Created": config.get("created") or image.created.isoformat(),
        "DockerVersion": "",
        "Author": config.get("author", ""),
        # The build container of the last step; Docker leaves it empty for most images.
        "Container": "",
        "ContainerConfig": image_config(config.get("container_config") or config.get("config")),
        "Config": image_config(config.get("config")),
        "Architecture": config.get("architecture", "amd64"),
        "Os": config.get("os", "linux"),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": (config.get("rootfs") or {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": ZERO_TIME},
    }


def image_history(image: Image) -> list[dict]:
    """Newest first, one entry per config history item; layer sizes from the ORM."""
    sizes = [il.layer.size for il in image.imagelayer_set.select_related("layer")]
    entries = []
    layer_index = 0
    for item in image.config.get("history") or []:
        empty = item.get("empty_layer", False)
        size = 0
        if not empty and layer_index < len(sizes):
            size = sizes[layer_index]
            layer_index += 1
        created = item.get("created", "")
        try:
            stamp = int(datetime.fromisoformat(created.replace("Z", "+00:00")[:32]).timestamp())
        except ValueError:
            stamp = 0
        entries.append(
            {
                "Id": "<missing>",
                "Created": stamp,
                "CreatedBy": item.get("created_by", ""),
                "Tags": None,
                "Size": size,
                "Comment": item.get("comment", ""),
            }
        )
    entries.reverse()
    if entries:
        entries[0]["Id"] = image.image_id
        entries[0]["Tags"] = image.tags or None
    return entries
