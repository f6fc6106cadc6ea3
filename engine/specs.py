"""From a Docker create request and an image's config to what the runtime runs.

Pure functions: Docker's rules for merging a request with the image (entrypoint and command,
environment, working dir, user, stop signal) live here and nowhere else.
"""

from dataclasses import dataclass

from runtime.containers.logconfig import log_options
from runtime.containers.seccomp import parse_profile
from runtime.errors import InvalidInput

from .api.schemas import ContainerCreate, ExecCreate
from .errors import BadRequest

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in [*base, *extra]:
        key = item.split("=", 1)[0]
        merged[key] = item
    if "PATH" not in merged:
        merged = {"PATH": _DEFAULT_PATH, **merged}
    return list(merged.values())


def container_config(body: ContainerCreate, image_config: dict, cid: str) -> dict:
    """The container's effective Config, as `docker inspect` shows it."""
    img = image_config.get("config") or {}
    if body.Entrypoint is not None:
        entrypoint, cmd = body.Entrypoint, body.Cmd or []
    else:
        entrypoint = img.get("Entrypoint") or []
        cmd = body.Cmd if body.Cmd is not None else (img.get("Cmd") or [])
    if not entrypoint and not cmd:
        raise BadRequest("no command specified")
    labels = {**(img.get("Labels") or {}), **(body.Labels or {})}
    healthcheck = merge_healthcheck(
        body.Healthcheck.model_dump() if body.Healthcheck else None, img.get("Healthcheck")
    )
    exposed = {**(img.get("ExposedPorts") or {}), **(body.ExposedPorts or {})}
    return {
        "Hostname": body.Hostname or cid[:12],
        "Domainname": body.Domainname,
        "User": body.User or img.get("User", ""),
        "AttachStdin": body.AttachStdin,
        "AttachStdout": body.AttachStdout,
        "AttachStderr": body.AttachStderr,
        "ExposedPorts": exposed or None,
        "Tty": body.Tty,
        "OpenStdin": body.OpenStdin,
        "StdinOnce": body.StdinOnce,
        "Env": merge_env(img.get("Env") or [], body.Env or []),
        "Cmd": cmd,
        "Image": body.Image,
        "Volumes": body.Volumes or img.get("Volumes"),
        "WorkingDir": body.WorkingDir or img.get("WorkingDir") or "",
        "Entrypoint": entrypoint or None,
        "Labels": labels,
        "StopSignal": body.StopSignal or img.get("StopSignal") or "SIGTERM",
        "StopTimeout": body.StopTimeout,
        **({"Healthcheck": healthcheck} if healthcheck else {}),
    }


_HEALTH_DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


def merge_healthcheck(asked: dict | None, image: dict | None) -> dict | None:
    """Docker's rule: the request's check wins, but its empty Test and zero durations and
    retries take the image's (so `--health-interval 5s` alone tunes the image's check)."""
    if not asked and not image:
        return None
    asked, image = asked or {}, image or {}
    merged = {"Test": asked.get("Test") or image.get("Test") or []}
    if merged["Test"][:1] == ["NONE"]:
        return merged
    for key in (*_HEALTH_DURATIONS, "Retries"):
        value = asked.get(key) or image.get(key) or 0
        if value:
            merged[key] = value
    if merged["Test"] and merged["Test"][0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise BadRequest(f"unknown healthcheck type {merged['Test'][0]!r} (try CMD or CMD-SHELL)")
    for key in _HEALTH_DURATIONS:
        # Docker's minimum, which keeps a probe loop from spinning.
        if 0 < merged.get(key, 0) < 1_000_000:
            raise BadRequest(f"{key} in Healthcheck cannot be less than 1ms")
    return merged if merged["Test"] else None


# Options naming confinement this platform does not apply anyway: asking to go without it
# changes nothing, so they are accepted.
_NOT_APPLIED = {"apparmor": "unconfined", "label": "disable"}


UNCONFINED = "unconfined"


@dataclass(frozen=True)
class SeccompChoice:
    """What a request's `--security-opt seccomp=...` asks for: the default profile (neither
    field set), none at all, or a profile of its own in Docker's JSON format."""

    unconfined: bool = False
    profile: str = ""


def _option(option: str) -> tuple[str, str]:
    """Docker accepts `key=value` and the older `key:value`; a value may itself hold either
    character (the CLI sends a seccomp profile's JSON whole), so the first one splits."""
    cut = min((i for i in (option.find("="), option.find(":")) if i >= 0), default=len(option))
    return option[:cut], option[cut + 1 :]


def seccomp_choice(host: dict) -> SeccompChoice:
    """The seccomp confinement a request asks for; any option that cannot be honoured is
    refused rather than ignored."""
    choice = SeccompChoice()
    for option in host.get("SecurityOpt") or []:
        key, value = _option(option)
        if key == "seccomp" and value == UNCONFINED:
            choice = SeccompChoice(unconfined=True)
        elif key == "seccomp" and value in ("", "builtin"):
            choice = SeccompChoice()
        elif key == "seccomp":
            try:
                parse_profile(value)
            except InvalidInput as e:
                raise BadRequest(str(e)) from None
            choice = SeccompChoice(profile=value)
        elif key == "no-new-privileges" and value in ("", "true"):
            continue
        elif _NOT_APPLIED.get(key) != value:
            raise BadRequest(f'invalid --security-opt: "{option[:200]}"')
    return choice


def pids_limit(host: dict, default: int) -> int:
    """The container's pids limit, 0 for none. Docker's API says -1 for unlimited; 0 and
    null, which clients send when the user said nothing, take the platform's `default`."""
    asked = host.get("PidsLimit") or 0
    if asked < 0:
        return 0
    return asked or default


def _log_options(host: dict) -> dict:
    try:
        return log_options(host.get("LogConfig"))
    except InvalidInput as e:
        raise BadRequest(str(e)) from None


def runtime_spec(config: dict, host: dict, default_pids_limit: int = 0) -> dict:
    """Keyword arguments of runtime.containers.spec.ContainerSpec."""
    seccomp = seccomp_choice(host)
    return {
        "args": [*(config.get("Entrypoint") or []), *config["Cmd"]],
        "env": config["Env"],
        "cwd": config["WorkingDir"] or "/",
        "user": config["User"],
        "group_add": host.get("GroupAdd") or [],
        "hostname": config["Hostname"],
        "tty": config["Tty"],
        "open_stdin": config["OpenStdin"],
        "stdin_once": config["StdinOnce"],
        "memory": host.get("Memory", 0),
        "memory_swap": host.get("MemorySwap", 0),
        "cpu_shares": host.get("CpuShares", 0),
        "cpu_quota": host.get("CpuQuota", 0),
        "cpu_period": host.get("CpuPeriod", 0),
        "nano_cpus": host.get("NanoCpus", 0),
        "pids_limit": pids_limit(host, default_pids_limit),
        "privileged": host.get("Privileged", False),
        "seccomp": not seccomp.unconfined,
        "seccomp_profile": seccomp.profile,
        "cap_add": host.get("CapAdd") or [],
        "cap_drop": host.get("CapDrop") or [],
        "readonly_rootfs": host.get("ReadonlyRootfs", False),
        "binds": host.get("Binds") or [],
        "tmpfs": host.get("Tmpfs") or {},
        "stop_signal": config["StopSignal"],
        **_log_options(host),
    }


def exec_spec(body: ExecCreate, container_config: dict) -> dict:
    """Keyword arguments of runtime.containers.exec.ExecSpec."""
    if not body.Cmd:
        raise BadRequest("no exec command specified")
    return {
        "args": body.Cmd,
        "env": merge_env(container_config.get("Env") or [], body.Env or []),
        "cwd": body.WorkingDir or container_config.get("WorkingDir") or "/",
        "user": body.User or container_config.get("User", ""),
        "tty": body.Tty,
        "privileged": body.Privileged,
    }
