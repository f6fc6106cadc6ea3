#!/usr/bin/env python3
"""A private Docker daemon to compare Dockyard with: Debian's dockerd and containerd, by hand.

    python -m bench.docker_peer [--from DOCKER_HOST]

Starts containerd and then `dockerd --iptables=false` with every piece of state of their own
in a temporary directory (roots, exec roots, pid files, sockets, a config file that reads
nothing from /etc), containers' cgroups under a parent of their own, and a bridge of their own
on a free /24 of 198.18.0.0/16 (user networks get /24s of 198.19.0.0/16): 198.18.0.0/15 is
the range set aside for benchmarks, which host networks do not use. busybox is loaded with no
Docker Hub: saved from the daemon `--from` names (Dockyard, so both run the same image), or
imported from the host's /bin/busybox. Prints `export PEER_DOCKER_HOST=...` and runs until
Ctrl-C; then every container, process, mount, cgroup, bridge and file it made goes. Other
benches use it as a context manager: `with docker_peer(source) as host: ...`. Installs
Debian's docker.io (containerd, dockerd) when dockerd is missing.
"""

import argparse
import contextlib
import hashlib
import io
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.ephemeral import stop_process  # noqa: E402

BUSYBOX = Path("/bin/busybox")
CGROUPS = Path("/sys/fs/cgroup")
BENCH_RANGE = ipaddress.ip_network("198.18.0.0/16")
# User networks (`docker network create`) take /24s of the other half of the range.
USER_POOL = "base=198.19.0.0/16,size=24"
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# Paths the daemons write whatever their flags say: dockerd's trust key and plugin directory,
# containerd's shim sockets. Each goes afterwards when this peer was the one to make it.
FIXED_FILES = [Path("/etc/docker/key.json")]
SHIM_SOCKETS = Path("/run/containerd/s")
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


def busybox_tar() -> bytes:
    """A root filesystem of the host's static busybox and its applet links, for docker import."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    dirs = {"bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "var"}
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(dirs):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
        with open(BUSYBOX, "rb") as f:
            info = tarfile.TarInfo("bin/busybox")
            info.size, info.mode = os.fstat(f.fileno()).st_size, 0o755
            tar.addfile(info, f)
        for applet in sorted(set(applets) - {"bin/busybox"}):
            info = tarfile.TarInfo(applet)
            info.type = tarfile.SYMTYPE
            info.linkname = os.path.relpath("bin/busybox", os.path.dirname(applet))
            tar.addfile(info)
    return buf.getvalue()


def load_busybox(host: str, source: str | None) -> None:
    """busybox:latest into the daemon at `host`, from the daemon at `source` or /bin/busybox."""
    if source:
        save = subprocess.Popen(
            ["docker", "-H", source, "save", "busybox:latest"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        load = subprocess.run(
            ["docker", "-H", host, "load"], stdin=save.stdout, capture_output=True, check=False
        )
        save.stdout.close()
        saved = save.wait(timeout=120)
        if saved == 0 and load.returncode == 0:
            return
        print(
            f"docker peer: busybox from {source} did not load "
            f"({save.stderr.read().decode().strip()} {load.stderr.decode().strip()}); "
            "importing /bin/busybox instead",
            file=sys.stderr,
        )
    subprocess.run(
        [
            *("docker", "-H", host, "import"),
            *("--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            *("--change", 'CMD ["sh"]', "-", "busybox:latest"),
        ],
        input=busybox_tar(),
        capture_output=True,
        check=True,
    )


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
