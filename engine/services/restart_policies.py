"""Docker's rules for a container's restart policy, checked at create and at update."""

from ..errors import BadRequest

RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def check_restart_policy(host: dict) -> None:
    policy = host.get("RestartPolicy") or {}
    name = policy.get("Name") or ""
    if name not in RESTART_POLICIES:
        raise BadRequest(f"invalid restart policy '{name}'")
    if (policy.get("MaximumRetryCount") or 0) < 0:
        raise BadRequest("invalid restart policy: maximum retry count cannot be negative")
    if name and name != "on-failure" and policy.get("MaximumRetryCount"):
        raise BadRequest(
            f"invalid restart policy: maximum retry count cannot be used with '{name}'"
        )
    if name not in ("", "no") and host.get("AutoRemove"):
        raise BadRequest("can't create 'AutoRemove' container with restart policy")
