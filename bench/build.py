#!/usr/bin/env python3
"""Build times of bench/fixtures/build-sample: cold, fully cached, after one source change.

    python -m bench.build [--runs 5]

Without DOCKER_HOST a private platform is started in a temporary root (the way `make up`
starts it). PEER_DOCKER_HOST, when set, names a real Docker daemon to compare with; buildah,
when installed, is measured too, with storage and config of its own, busybox loaded from the
OCI archive fixture, in mount and network namespaces of its own so its RUN steps leave no
bridge, firewall rule or state on the host. Each cold run uses a fresh tag and `--no-cache`.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run_latency import BUSYBOX_ARCHIVE, PRIVATE_HOST, podman_config  # noqa: E402
from bench.stats import summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform  # noqa: E402

SAMPLE = Path(__file__).resolve().parent / "fixtures" / "build-sample"


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def scenarios(build: list[str], context: Path, runs: int, env: dict | None) -> dict:
    """Seconds per build for the three scenarios, `runs` samples each."""
    tag = f"bench-build-{secrets.token_hex(3)}"
    source = context / "src" / "version.txt"
    found: dict[str, list[float]] = {"cold": [], "cached": [], "one file changed": []}
    for _ in range(runs):
        found["cold"].append(timed([*build, "--no-cache", "-t", tag, str(context)], env))
        found["cached"].append(timed([*build, "-t", tag, str(context)], env))
        source.write_text(secrets.token_hex(8) + "\n")
        found["one file changed"].append(timed([*build, "-t", tag, str(context)], env))
    return found


@contextlib.contextmanager
def private_buildah() -> Iterator[tuple[list[str], dict]]:
    """The argv prefix and environment of a buildah that has busybox and nothing of the host's."""
    # Short on purpose: containers/storage refuses a runroot longer than 50 characters.
    workdir = Path(tempfile.mkdtemp(prefix="dyb-buildah-", dir="/tmp"))
    try:
        env = podman_config(workdir)
        buildah = [
            *("unshare", "--mount", "--net", "--propagation", "private"),
            *("sh", "-c", f'{PRIVATE_HOST} && exec "$@"', "sh"),
            *("buildah", "--root", str(workdir / "root"), "--runroot", str(workdir / "run")),
        ]
        subprocess.run(
            [*buildah, "pull", "-q", f"oci-archive:{BUSYBOX_ARCHIVE}"],
            check=True,
            capture_output=True,
            env=env,
        )
        yield buildah, env
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(label: str, found: dict) -> None:
    for scenario, samples in found.items():
        print(summary(f"{label}: {scenario}", samples))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        context = Path(tmp) / "sample"
        shutil.copytree(SAMPLE, context)
        with contextlib.ExitStack() as stack:
            host = os.environ.get("DOCKER_HOST")
            if not host:
                run_dir = Path(tempfile.mkdtemp(prefix="dyb-", dir="/tmp"))
                stack.callback(shutil.rmtree, run_dir, True)
                platform = stack.enter_context(ephemeral_platform(Path(tmp) / "root", run_dir))
                host = platform.docker_host
            report("dockyard", scenarios(["docker", "-H", host, "build"], context, runs, None))
        peer = os.environ.get("PEER_DOCKER_HOST")
        if peer:
            env = {**os.environ, "DOCKER_BUILDKIT": "0"}
            report("docker", scenarios(["docker", "-H", peer, "build"], context, runs, env))
        if shutil.which("buildah") and shutil.which("unshare"):
            with private_buildah() as (buildah, env):
                report("buildah", scenarios([*buildah, "bud", "--layers"], context, runs, env))


if __name__ == "__main__":
    main()
