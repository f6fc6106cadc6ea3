"""A cluster on one machine, for end-to-end tests and benchmarks.

The control plane runs as `DOCKYARD_CLUSTER=1 make up` runs it; each extra node is a host of
its own as far as the platform can tell: its processes (`make node`'s) live in a network
namespace joined to a test bridge by a veth, with their own DOCKYARD_ROOT, run directory and
network prefix, and reach the control plane only over that veth. Everything made here has
the caller's prefix and goes away on exit, even after a failure.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute, netns

from runtime.containers import lifecycle
from runtime.paths import RuntimePaths

from .ephemeral import IP_FORWARD, Ephemeral, free_port
from .supervisor import Platform

SOURCE = Path(__file__).resolve().parent.parent
# A /24 for the test bridge: control plane .1, nodes from .11.
SUBNET = "10.213.{}.0/24"


@dataclass
class SimulatedNode:
    name: str
    index: int
    netns: str
    root: Path
    run: Path
    prefix: str
    address: str
    process: subprocess.Popen | None = None
    log: Path = field(default_factory=Path)

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DOCKYARD_ROOT": str(self.root),
            "DOCKYARD_RUN_DIR": str(self.run),
            "DOCKYARD_NODE": self.name,
            "DOCKYARD_NETWORK_PREFIX": self.prefix,
            "DJANGO_SETTINGS_MODULE": "dockyard.settings",
        }
        for name in ("DATABASE_URL", "DOCKYARD_REDIS_URL", "DOCKYARD_CLUSTER", "DOCKYARD_DB"):
            env.pop(name, None)
        env.pop("DJANGO_SECRET_KEY", None)
        return env

    def in_netns(self, *argv: str) -> list[str]:
        # Only the network namespace: the node's mounts must be the host's, as on a real host.
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]

    def start(self, control_url: str, token: str = "", labels: dict | None = None) -> None:
        """`make node` in the namespace; with a token it joins, without it rejoins."""
        args = [sys.executable, "-m", "dockyard.node", "--join", control_url]
        if token:
            args += ["--token", token, "--name", self.name, "--advertise", self.address]
            args += [f"--label={k}={v}" for k, v in (labels or {}).items()]
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "node.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.in_netns(*args),
                cwd=SOURCE,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_running(self, timeout: float = 120) -> None:
        """Until the node's worker and agent run (its launcher says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "joined; worker and agent running" in text.split("--- start ---")[-1]:
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"node {self.name} not running after {timeout}s:\n{text[-3000:]}")

    def mark_start(self) -> None:
        with open(self.log, "a") as out:
            out.write("--- start ---\n")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the node's launcher, worker and agent (not its containers: conmon keeps
        them in sessions of their own)."""
        if self.process is None:
            return
        # The launcher starts each service in a session of its own: walk its children.
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def clean(self) -> None:
        """Remove its containers and network state, inside its namespace."""
        self.stop()
        paths = RuntimePaths(root=self.root, run=self.run)
        for cid in lifecycle.list_ids(paths):
            with contextlib.suppress(Exception):
                lifecycle.remove(paths, cid, force=True)
        code = (
            "from runtime.network import NetworkManager; from runtime.paths import RuntimePaths; "
            f"NetworkManager(RuntimePaths(root={str(self.root)!r}, run={str(self.run)!r}), "
            f"prefix={self.prefix!r}).teardown()"
        )
        subprocess.run(self.in_netns(sys.executable, "-c", code), cwd=SOURCE, capture_output=True)


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


@dataclass
class Cluster:
    control: Ephemeral
    url: str
    nodes: list[SimulatedNode]
    platform: Platform

    def join_token(self) -> str:
        return self.control.manage("join_token", "--url", self.url).split("TOKEN=")[1].strip()


class TestNet:
    """The test bridge in the host's namespace and a namespace with a veth per node."""

    def __init__(self, prefix: str, octet: int) -> None:
        self.prefix, self.octet = prefix, octet
        self.bridge = f"{prefix}br"
        self.gateway = f"10.213.{octet}.1"
        self.namespaces: list[str] = []

    def create(self) -> None:
        with IPRoute() as ip:
            ip.link("add", ifname=self.bridge, kind="bridge")
            index = ip.link_lookup(ifname=self.bridge)[0]
            ip.addr("add", index=index, address=self.gateway, prefixlen=24)
            ip.link("set", index=index, state="up")

    def add_node(self, i: int) -> tuple[str, str]:
        ns, host_end, node_end = f"{self.prefix}n{i}", f"{self.prefix}h{i}", f"{self.prefix}c{i}"
        address = f"10.213.{self.octet}.{10 + i}"
        netns.create(ns)
        self.namespaces.append(ns)
        with IPRoute() as ip:
            ip.link("add", ifname=host_end, kind="veth", peer=node_end)
            host_index = ip.link_lookup(ifname=host_end)[0]
            bridge_index = ip.link_lookup(ifname=self.bridge)[0]
            ip.link("set", index=host_index, master=bridge_index, state="up")
            ip.link("set", index=ip.link_lookup(ifname=node_end)[0], net_ns_fd=ns)
        with IPRoute(netns=ns) as ip:
            lo = ip.link_lookup(ifname="lo")[0]
            ip.link("set", index=lo, state="up")
            index = ip.link_lookup(ifname=node_end)[0]
            ip.addr("add", index=index, address=address, prefixlen=24)
            ip.link("set", index=index, state="up")
        return ns, address

    def remove(self) -> None:
        for ns in self.namespaces:
            with contextlib.suppress(OSError):
                netns.remove(ns)
        with IPRoute() as ip:
            for name in (self.bridge, *(f"{self.prefix}h{i}" for i in range(64))):
                found = ip.link_lookup(ifname=name)
                if found:
                    with contextlib.suppress(Exception):
                        ip.link("del", index=found[0])


@contextlib.contextmanager
def simulated_cluster(
    nodes: int, prefix: str = "", images: tuple[str, ...] = ("busybox:latest",)
) -> Iterator[Cluster]:
    """A control plane in this namespace and `nodes` nodes, each in its own; the nodes are
    made but not started (SimulatedNode.start joins one)."""
    prefix = prefix or f"dq{secrets.token_hex(2)}"
    base = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
    base.chmod(0o711)
    net = TestNet(prefix, 100 + secrets.randbelow(150))
    made: list[SimulatedNode] = []
    ip_forward = IP_FORWARD.read_text()
    platform = None
    try:
        net.create()
        env = {
            **os.environ,
            "DOCKYARD_ROOT": str(base / "control"),
            "DOCKYARD_RUN_DIR": str(base / "run"),
            "DOCKYARD_NODE": f"{prefix}-control",
            "DOCKYARD_HOST": "0.0.0.0",
            "DOCKYARD_PORT": str(free_port()),
            "DOCKYARD_ENGINE_SOCKET": str(base / "run" / "docker.sock"),
            "DOCKYARD_NETWORK_PREFIX": f"{prefix}x",
            "DOCKYARD_CLUSTER": "1",
            "DOCKYARD_PG_PORT": str(free_port()),
            "DOCKYARD_CLUSTER_REDIS_PORT": str(free_port()),
            "DJANGO_SETTINGS_MODULE": "dockyard.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        }
        for name in ("DATABASE_URL", "DOCKYARD_REDIS_URL", "DOCKYARD_DB"):
            env.pop(name, None)
        platform = Platform(env=env)
        env = platform.env
        control = Ephemeral(env=env, root=base / "control", run=base / "run")
        url = f"http://{net.gateway}:{env['DOCKYARD_PORT']}"
        platform.start(timeout=120)
        platform.wait_ready(timeout=120)
        if images:
            control.manage("import_base_images", *images)
            control.manage("publish_base_images")
        for i in range(1, nodes + 1):
            ns, address = net.add_node(i)
            made.append(
                SimulatedNode(
                    name=f"{prefix}-n{i}",
                    index=i,
                    netns=ns,
                    root=base / f"n{i}",
                    run=base / f"r{i}",
                    prefix=f"{prefix}{i}",
                    address=address,
                )
            )
        yield Cluster(control=control, url=url, nodes=made, platform=platform)
    finally:
        for node in made:
            node.clean()
        if platform is not None:
            _remove_control_containers(platform)
            platform.stop()
        net.remove()
        IP_FORWARD.write_text(ip_forward)
        _unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)


def _remove_control_containers(platform: Platform) -> None:
    from runtime.network import NetworkManager

    paths = RuntimePaths(
        root=Path(platform.env["DOCKYARD_ROOT"]), run=Path(platform.env["DOCKYARD_RUN_DIR"])
    )
    for cid in lifecycle.list_ids(paths):
        with contextlib.suppress(Exception):
            lifecycle.remove(paths, cid, force=True)
    NetworkManager(paths, prefix=platform.env["DOCKYARD_NETWORK_PREFIX"]).teardown()


def _unmount_under(path: Path) -> None:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
