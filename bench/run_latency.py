#!/usr/bin/env python3
"""Latency of `docker run --rm busybox true`: Dockyard end to end, its runtime path, raw crun.

    python -m bench.run_latency [--runs 30]

Without DOCKER_HOST a private platform is started in a temporary root (the way `make up`
starts it). PEER_DOCKER_HOST, when set, names a real Docker daemon to compare with.
Targets: Dockyard's end-to-end median no slower than Docker's; the runtime path
(create + start + wait + remove, no API) within 3x of `crun run` on the same bundle.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import command, measure, median, summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform  # noqa: E402
from runtime.containers import lifecycle  # noqa: E402
from runtime.containers.spec import ContainerSpec  # noqa: E402
from runtime.images.base import build_busybox  # noqa: E402
from runtime.images.store import ImageStore  # noqa: E402
from runtime.paths import RuntimePaths  # noqa: E402


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
    bundle = lifecycle.bundle(paths, cid)
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
        paths = RuntimePaths(root=root / "runtime", run=run / "r").ensure()
        store = ImageStore(paths)
        lowerdirs = store.snapshot_dirs(build_busybox(store))
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
    else:
        print("docker: PEER_DOCKER_HOST not set; no Docker daemon to compare with on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
