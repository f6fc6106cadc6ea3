#!/usr/bin/env python3
"""Latency of `docker run --rm busybox true`: Dockyard end to end, its runtime path, raw crun.

    python -m bench.run_latency [--runs 30]

Without DOCKER_HOST a private platform is started in a temporary root (the way `make up`
starts it). PEER_DOCKER_HOST, when set, names a real Docker daemon to compare with; without
it, when podman is installed, a private `podman system service` (its own storage, config,
mount and network namespaces, busybox loaded from the OCI archive fixture) is the peer.
Targets: Dockyard's end-to-end median no slower than Docker's; the runtime path
(create + start + wait + remove, no API) within 3x of `crun run` on the same bundle.
"""

import argparse
import contextlib
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import command, measure, median, summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform, stop_process  # noqa: E402
from runtime.containers import layout, lifecycle  # noqa: E402
from runtime.containers.spec import ContainerSpec  # noqa: E402
from runtime.images.base import build_busybox  # noqa: E402
from runtime.images.store import ImageStore  # noqa: E402
from runtime.paths import RuntimePaths  # noqa: E402

BUSYBOX_ARCHIVE = (
    Path(__file__).resolve().parent.parent / "tests/runtime/images/fixtures/busybox-oci.tar"
)
PODMAN_LABEL = "podman (Docker API): docker run --rm busybox true"
# Run under `unshare --mount`: tmpfs on /run and /var/lib keep off the host what podman and
# buildah write there whatever their flags (netavark's run dir, crun state, blob-info cache).
PRIVATE_HOST = "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib"
# Where podman puts containers' cgroups with the cgroupfs manager; no setting moves it.
PODMAN_CGROUP_PARENT = "libpod_parent"


def podman_config(workdir: Path) -> dict[str, str]:
    """Environment pointing podman or buildah at config files of its own, not the host's."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conf = workdir / "containers.conf"
    # podman asks crun for a million open files and processes; without CAP_SYS_RESOURCE
    # setrlimit above the hard limit fails, and conmon runs crun under a lower nproc ceiling.
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=4096:4096"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{workdir / "events.log"}"\n'
    )
    registries = workdir / "registries.conf"
    registries.write_text("unqualified-search-registries = []\n")
    (workdir / "tmp").mkdir(exist_ok=True)
    return {
        **os.environ,
        "TMPDIR": str(workdir / "tmp"),
        "CONTAINERS_CONF": str(conf),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
    }


def podman_flags(workdir: Path) -> list[str]:
    return [
        *("--root", str(workdir / "root"), "--runroot", str(workdir / "run")),
        *("--tmpdir", str(workdir / "tmp"), "--network-config-dir", str(workdir / "net")),
        *("--cgroup-manager", "cgroupfs", "--events-backend", "file"),
    ]


def remove_cgroup_tree(name: str) -> None:
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for sub in sorted(top.rglob("*"), key=lambda d: len(d.parts), reverse=True):
            if sub.is_dir():
                sub.rmdir()
        top.rmdir()


def wait_for_socket(sock: Path, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"podman system service exited: {log.read_text()[-2000:]}")
        probe = subprocess.run(
            ["docker", "-H", f"unix://{sock}", "version"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"podman system service did not answer: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def podman_service() -> Iterator[str]:
    """A private `podman system service` with busybox loaded; yields its DOCKER_HOST.

    It runs in mount and network namespaces of its own (see PRIVATE_HOST): the bridge,
    firewall rules, netns files, crun state and caches it makes never reach the host and go
    when the service exits. Only the containers' cgroups are shared with the host.
    """
    owned_cgroups = not any(
        (h / PODMAN_CGROUP_PARENT).exists() for h in Path("/sys/fs/cgroup").iterdir()
    )
    workdir = Path(tempfile.mkdtemp(prefix="dyb-podman-", dir="/tmp"))
    sock, log = workdir / "podman.sock", workdir / "service.log"
    flags = " ".join(podman_flags(workdir))
    script = (
        f"{PRIVATE_HOST}"
        f" && podman {flags} load -q -i {BUSYBOX_ARCHIVE}"
        f" && exec podman {flags} system service --time=0 unix://{sock}"
    )
    unshare = ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script]
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                unshare, env=podman_config(workdir), stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_socket(sock, proc, log)
            yield f"unix://{sock}"
        finally:
            stop_process(proc, grace=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if owned_cgroups:
            remove_cgroup_tree(PODMAN_CGROUP_PARENT)


def docker_run(host: str) -> list[str]:
    return ["docker", "-H", host, "run", "--rm", "busybox", "true"]


def runtime_path(paths: RuntimePaths, lowerdirs: list[Path]):
    def once() -> None:
        cid = secrets.token_hex(32)
        lifecycle.create(paths, cid, ContainerSpec(args=["true"], hostname=cid[:12]), lowerdirs)
        lifecycle.start(paths, cid)
        lifecycle.wait(paths, cid, timeout=30)
        lifecycle.remove(paths, cid, force=True)

    return once


def crun_floor(paths: RuntimePaths, lowerdirs: list[Path]):
    """`crun run` of the bundle Dockyard itself would run, without conmon or bookkeeping."""
    cid = secrets.token_hex(32)
    lifecycle.create(paths, cid, ContainerSpec(args=["true"], hostname=cid[:12]), lowerdirs)
    bundle = layout.bundle(paths, cid)
    state_root = paths.run / "crun-floor"
    argv = ["crun", "--root", str(state_root), "run", "--bundle", str(bundle)]

    def once() -> None:
        subprocess.run(
            [*argv, f"floor{secrets.token_hex(4)}"],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )

    return once, lambda: lifecycle.remove(paths, cid, force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    results: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-bench-")))
        run = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dyb-", dir="/tmp")))
        host = os.environ.get("DOCKER_HOST")
        if not host:
            platform = stack.enter_context(ephemeral_platform(root / "platform", run / "p"))
            host = platform.docker_host
        results["dockyard: docker run --rm busybox true"] = measure(
            command(docker_run(host)), args.runs
        )
        peer = os.environ.get("PEER_DOCKER_HOST")
        if peer:
            results["docker:   docker run --rm busybox true"] = measure(
                command(docker_run(peer)), args.runs
            )
        elif shutil.which("podman") and shutil.which("unshare"):
            with podman_service() as podman_host:
                results[PODMAN_LABEL] = measure(command(docker_run(podman_host)), args.runs)
        paths = RuntimePaths(root=root / "runtime", run=run / "r").ensure()
        store = ImageStore(paths)
        lowerdirs = store.snapshots.dirs(build_busybox(store))
        results["runtime path: create+start+wait+remove"] = measure(
            runtime_path(paths, lowerdirs), args.runs
        )
        floor, cleanup = crun_floor(paths, lowerdirs)
        stack.callback(cleanup)
        results["floor: crun run (same bundle)"] = measure(floor, args.runs)
    for label, samples in results.items():
        print(summary(label, samples))
    e2e = median(results["dockyard: docker run --rm busybox true"])
    rt = median(results["runtime path: create+start+wait+remove"])
    fl = median(results["floor: crun run (same bundle)"])
    print(f"runtime path / crun floor: {rt / fl:.2f}x (target <= 3x)")
    print(f"end to end / crun floor:   {e2e / fl:.2f}x")
    if peer:
        docker = median(results["docker:   docker run --rm busybox true"])
        print(f"dockyard / docker:         {e2e / docker:.2f}x (target <= 1x)")
    elif PODMAN_LABEL in results:
        podman = median(results[PODMAN_LABEL])
        print(f"dockyard / podman:         {e2e / podman:.2f}x")
    else:
        print("docker: PEER_DOCKER_HOST not set and podman not installed; nothing to compare with")
    return 0


if __name__ == "__main__":
    sys.exit(main())
