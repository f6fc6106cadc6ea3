#!/usr/bin/env python3
"""A private Docker daemon to compare Dockyard with: Debian's dockerd and containerd, by hand.

    python -m bench.docker_peer [--from DOCKER_HOST]

Starts containerd and then `dockerd --iptables=false` with every piece of state of their own
in a temporary directory (roots, exec roots, pid files, sockets, a config file that reads
nothing from /etc), containers' cgroups under a parent of their own, and a bridge of their own
on a free /24 of 198.18.0.0/16 (user networks get /24s of 198.19.0.0/16): 198.18.0.0/15 is
the range set aside for benchmarks, which host networks do not use. busybox is loaded with no
Docker Hub: saved from the daemon `--from` names (Dockyard, so both run the same image), or
imported from the host's /bin/busybox (bench.peer_image). Prints `export PEER_DOCKER_HOST=...`
and runs until Ctrl-C; then every container, process, mount, cgroup, bridge and file it made
goes (bench.peer_cleanup). Other benches use it as a context manager:
`with docker_peer(source) as host: ...`. Installs Debian's docker.io (containerd, dockerd)
when dockerd is missing.
"""

import argparse
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peer_cleanup import SHIM_SOCKETS, stop_peer  # noqa: E402
from bench.peer_image import load_busybox  # noqa: E402

BENCH_RANGE = ipaddress.ip_network("198.18.0.0/16")
# User networks (`docker network create`) take /24s of the other half of the range.
USER_POOL = "base=198.19.0.0/16,size=24"
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# Paths the daemons write whatever their flags say: dockerd's trust key and plugin directory,
# containerd's shim sockets. Each goes afterwards when this peer was the one to make it.
FIXED_FILES = [Path("/etc/docker/key.json")]
FIXED_DIRS = [
    SHIM_SOCKETS,
    Path("/run/containerd"),
    Path("/run/docker/plugins"),
    Path("/run/docker"),
]


def ensure_installed() -> None:
    """Install Debian's docker.io when dockerd is missing, without starting its service."""
    if shutil.which("dockerd") and shutil.which("containerd"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The package's scripts would start the system's dockerd on /var/lib/docker; policy-rc.d
    # answering 101 is Debian's way to tell them not to, on systemd and sysvinit hosts alike.
    own_policy = not POLICY_RC.exists()
    if own_policy:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io"],
            check=True,
            env=env,
        )
    finally:
        if own_policy:
            POLICY_RC.unlink(missing_ok=True)


def free_subnet() -> ipaddress.IPv4Network:
    """The first /24 of BENCH_RANGE that no route of the host's overlaps."""
    routes = json.loads(
        subprocess.run(
            ["ip", "-j", "-4", "route", "show", "table", "all"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    taken = []
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(dst, strict=False))
    for subnet in BENCH_RANGE.subnets(new_prefix=24):
        if not any(subnet.overlaps(t) for t in taken):
            return subnet
    raise RuntimeError(f"no free /24 in {BENCH_RANGE}")


def wait_until(ready, procs: dict[str, tuple[subprocess.Popen, Path]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            tails = "\n".join(f"{n}: {log.read_text()[-1000:]}" for n, (_, log) in procs.items())
            raise RuntimeError(f"the docker peer did not come up:\n{tails}")
        time.sleep(0.1)


def answers(host: str) -> bool:
    probe = ["docker", "-H", host, "version"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def docker_peer(image_source: str | None = None) -> Iterator[str]:
    """A private containerd + dockerd with busybox:latest; yields its DOCKER_HOST."""
    if os.geteuid() != 0:
        raise RuntimeError("the docker peer needs root")
    ensure_installed()
    tag = secrets.token_hex(3)
    bridge, cgroup_parent = f"dkpeer{tag}", f"dkpeer-{tag}"
    fixed = [p for p in [*FIXED_FILES, *FIXED_DIRS] if not p.exists()]
    # Short on purpose: unix socket paths are limited to 107 bytes.
    work = Path(tempfile.mkdtemp(prefix=f"dkpeer-{tag}-", dir="/tmp"))
    containerd_sock, docker_sock = work / "containerd.sock", work / "docker.sock"
    host = f"unix://{docker_sock}"
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    bridges = [bridge]
    try:
        config = work / "containerd.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{work / "containerd"}"\n'
            f'state = "{work / "containerd-state"}"\n'
            # dockerd talks to containerd's task and content services only; no kubelet here.
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{containerd_sock}"\n'
            '[plugins."io.containerd.internal.v1.opt"]\n'
            f'  path = "{work / "containerd-opt"}"\n'
        )
        # An empty file, so nothing in /etc/docker/daemon.json changes the peer.
        (work / "daemon.json").write_text("{}\n")
        subnet = free_subnet()
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        gateway = f"{subnet.network_address + 1}/{subnet.prefixlen}"
        subprocess.run(["ip", "addr", "add", gateway, "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        daemons = {
            "containerd": ["containerd", "--config", str(config)],
            "dockerd": [
                "dockerd",
                *("--config-file", str(work / "daemon.json")),
                *("--data-root", str(work / "docker"), "--exec-root", str(work / "exec")),
                *("--pidfile", str(work / "dockerd.pid"), "-H", host),
                *("--containerd", str(containerd_sock)),
                # No firewall rules and no sysctl on the host; the peer's containers need no
                # NAT egress for these benches, and published ports go through docker-proxy.
                *("--iptables=false", "--ip-forward=false", "--ip-masq=false"),
                *("--bridge", bridge, "--default-address-pool", USER_POOL),
                # cgroup v1 (hybrid) here, with no systemd to ask: cgroupfs is the driver that
                # works, under a parent of the peer's own so its leftovers can be found.
                *("--exec-opt", "native.cgroupdriver=cgroupfs"),
                *("--cgroup-parent", f"/{cgroup_parent}"),
                "--log-level=warn",
            ],
        }
        for name, argv in daemons.items():
            log = work / f"{name}.log"
            with open(log, "wb") as out:
                # A session of their own, so a Ctrl-C meant for the bench reaches them only
                # through the orderly stop below.
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs[name] = (proc, log)
            if name == "containerd":
                wait_until(containerd_sock.exists, procs, 30)
        wait_until(lambda: answers(host), procs, 60)
        load_busybox(host, image_source)
        yield host
    finally:
        stop_peer(host, procs, containerd_sock, cgroup_parent, bridges)
        for path in fixed:
            if path.is_file():
                path.unlink()
            elif path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from",
        dest="source",
        metavar="DOCKER_HOST",
        help="daemon to copy busybox:latest from (default: import the host's /bin/busybox)",
    )
    args = parser.parse_args()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM stops it as Ctrl-C does, so the daemons and their state go either way; SIGINT is
    # set too, as a shell leaves it ignored in a command it starts in the background.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    with contextlib.suppress(KeyboardInterrupt), docker_peer(args.source) as host:
        print(f"export PEER_DOCKER_HOST={host}", flush=True)
        print("Ctrl-C stops the peer and removes its state", file=sys.stderr, flush=True)
        while True:
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
