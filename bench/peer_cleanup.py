"""Stopping the docker peer so that nothing of it stays: its containers, daemons, the shims
that outlive containerd, its cgroups, mounts and bridges."""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard.ephemeral import stop_process

CGROUPS = Path("/sys/fs/cgroup")
# containerd's shims put their sockets here whatever its flags say.
SHIM_SOCKETS = Path("/run/containerd/s")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like written as octal escapes.
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(f"{root}/"):
            found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def kill_cgroup_tree(name: str) -> None:
    """SIGKILL whatever still runs in the containers' cgroups, then remove them."""
    freezer = CGROUPS / "freezer" / name
    if freezer.is_dir():
        # A paused container ignores SIGKILL until it is thawed.
        for sub in [freezer, *freezer.rglob("*")]:
            if (sub / "freezer.state").exists():
                with contextlib.suppress(OSError):
                    (sub / "freezer.state").write_text("THAWED")
    for hierarchy in CGROUPS.iterdir():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    for hierarchy in CGROUPS.iterdir():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for sub in sorted([top, *top.rglob("*")], key=lambda d: len(d.parts), reverse=True):
            if not sub.is_dir():
                continue
            # A killed process leaves its cgroup a moment after the signal.
            while True:
                try:
                    sub.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def kill_shims(containerd_sock: Path) -> None:
    """SIGKILL the shims of this containerd, which outlive it, and remove their sockets.

    They name its socket in their argv. Their sockets sit in /run/containerd/s whatever
    containerd's flags, named by the sha256 of `<containerd socket>/<namespace>/<id>`; a shim
    that exits in order removes its own, a killed one does not.
    """
    needle = str(containerd_sock).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not (argv[0].endswith(b"containerd-shim-runc-v2") and needle in argv):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(entry.name), signal.SIGKILL)
        # Each flag's value is the word after it; a flag without one is never the last word.
        after = {word: argv[i + 1] for i, word in enumerate(argv[:-1])}
        namespace, cid = after.get(b"-namespace"), after.get(b"-id")
        if namespace and cid:
            key = hashlib.sha256(b"/".join([needle, namespace, cid])).hexdigest()
            (SHIM_SOCKETS / key).unlink(missing_ok=True)


def bridges_of(host: str) -> list[str]:
    """Host bridges of the daemon's bridge networks, named or `br-<id>` as dockerd names them."""
    listed = subprocess.run(
        ["docker", "-H", host, "network", "ls", "-q", "--filter", "driver=bridge"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not listed:
        return []
    inspected = subprocess.run(
        ["docker", "-H", host, "network", "inspect", *listed],
        capture_output=True,
        text=True,
        check=False,
    )
    names = []
    for net in json.loads(inspected.stdout or "[]"):
        name = (net.get("Options") or {}).get("com.docker.network.bridge.name")
        names.append(name or f"br-{net['Id'][:12]}")
    return names


def remove_link(name: str) -> None:
    if Path("/sys/class/net", name).exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def stop_peer(
    host: str,
    procs: dict[str, tuple[subprocess.Popen, Path]],
    containerd_sock: Path,
    cgroup_parent: str,
    bridges: list[str],
) -> None:
    """Containers, daemons, shims, cgroups, mounts and bridges, in that order.

    Each step runs even when one before it failed, so a daemon that died or hung still
    leaves nothing behind that a later step can reach.
    """
    work = containerd_sock.parent

    def attempt(step, *args) -> None:
        try:
            step(*args)
        except Exception as exc:
            print(f"docker peer: {step.__name__}: {exc}", file=sys.stderr)

    def remove_containers() -> None:
        if "dockerd" not in procs or procs["dockerd"][0].poll() is not None:
            return
        docker = ["docker", "-H", host]
        leftovers = subprocess.run(
            [*docker, "ps", "-aq"], capture_output=True, text=True, check=False, timeout=60
        ).stdout.split()
        if leftovers:
            rm = [*docker, "rm", "-f", *leftovers]
            subprocess.run(rm, capture_output=True, check=False, timeout=120)
        bridges.extend(bridges_of(host))
        prune = [*docker, "network", "prune", "-f"]
        subprocess.run(prune, capture_output=True, check=False, timeout=60)

    def unmount_all() -> None:
        for point in mounts_under(work):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)

    attempt(remove_containers)
    for name in ("dockerd", "containerd"):
        if name in procs:
            attempt(stop_process, procs[name][0], 30)
    attempt(kill_shims, containerd_sock)
    attempt(kill_cgroup_tree, cgroup_parent)
    attempt(unmount_all)
    for name in dict.fromkeys(bridges):
        attempt(remove_link, name)
