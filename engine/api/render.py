"""ORM rows in the shapes of the Docker Engine API."""

from datetime import UTC, datetime

from ..models import Container, Image

ZERO_TIME = "0001-01-01T00:00:00Z"


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
        return f"Up {human_duration(_since(c.started_at))}"
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
        "Ports": [],
        "Labels": c.config.get("Labels") or {},
        "State": c.status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "none"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    }


def container_inspect(c: Container, log_path: str = "") -> dict:
    args = [*(c.config.get("Entrypoint") or []), *(c.config.get("Cmd") or [])]
    return {
        "Id": c.id,
        "Created": c.created.isoformat().replace("+00:00", "Z"),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": c.status,
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
        },
        "Image": c.image_id,
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": log_path,
        "Name": f"/{c.name}",
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(c.execs.filter(running=True).values_list("id", flat=True)) or None,
        "HostConfig": c.host_config,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "Mounts": [],
        "Config": c.config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "Ports": {},
            "Networks": {},
            "IPAddress": "",
            "Gateway": "",
            "MacAddress": "",
        },
    }


def image_summary(image: Image) -> dict:
    repo_tags = image.tags or []
    repo_digests = []
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


def image_inspect(image: Image) -> dict:
    config = image.config
    return {
        "Id": image.image_id,
        "RepoTags": image.tags,
        "RepoDigests": [],
        "Parent": "",
        "Comment": next((h.get("comment", "") for h in reversed(config.get("history") or [])), ""),
        "Created": config.get("created") or image.created.isoformat(),
        "DockerVersion": "",
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
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
