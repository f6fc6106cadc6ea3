"""`docker update`: a container's resource limits changed in its cgroup, spec and config.json."""

import json
import tempfile

from runtime import cgroups
from runtime.containers import crun
from runtime.containers.layout import bundle, load_spec, locked
from runtime.containers.spec import ContainerSpec, oci_resources
from runtime.containers.state import Status, load_state
from runtime.errors import RuntimeFailure
from runtime.files import write_json_atomic
from runtime.paths import RuntimePaths


def swap_accounting() -> bool:
    if cgroups.version() == "v2":
        return True
    return (cgroups.CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists()


# The limits `docker update` may change, by their ContainerSpec names.
UPDATABLE = ("memory", "memory_swap", "cpu_shares", "cpu_quota", "cpu_period", "nano_cpus")
UPDATABLE += ("pids_limit",)


def update_resources(paths: RuntimePaths, cid: str, changes: dict[str, int]) -> ContainerSpec:
    """`docker update`: new limits for a running container's cgroup, through `crun update`,
    and in its spec and config.json so every later start keeps them."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise RuntimeFailure(f"cannot update {', '.join(sorted(unknown))}")
    with locked(paths, cid):
        old = load_spec(paths, cid)
        new = ContainerSpec.from_dict({**old.to_dict(), **changes})
        swap = swap_accounting()
        resources = oci_resources(new, swap)
        state = load_state(paths, cid)
        if state.status in (Status.running, Status.paused):
            _apply_resources(paths, cid, _lifted(old, new, resources, swap))
        b = bundle(paths, cid)
        config = json.loads((b / "config.json").read_text())
        config["linux"]["resources"] = resources
        write_json_atomic(b / "spec.json", new.to_dict())
        write_json_atomic(b / "config.json", config, durable=False)
        return new


def _lifted(old: ContainerSpec, new: ContainerSpec, resources: dict, swap: bool) -> dict:
    """The resources to hand `crun update`: a fresh spec says nothing of a limit it lifts,
    and crun leaves unnamed limits as they are, so a lifted one is named as unlimited (-1)."""
    out = {key: dict(value) for key, value in resources.items() if key != "devices"}
    if old.memory and not new.memory:
        out.setdefault("memory", {})["limit"] = -1
        if swap:
            out["memory"]["swap"] = -1
    if old.pids_limit and not new.pids_limit:
        out["pids"] = {"limit": -1}
    if (old.nano_cpus or old.cpu_quota) and not (new.nano_cpus or new.cpu_quota):
        out.setdefault("cpu", {})["quota"] = -1
    return out


def _apply_resources(paths: RuntimePaths, cid: str, resources: dict) -> None:
    with tempfile.NamedTemporaryFile(
        "w", dir=bundle(paths, cid), prefix=".update-", suffix=".json"
    ) as f:
        json.dump(resources, f)
        f.flush()
        crun.run(paths, "update", "--resources", f.name, cid)
