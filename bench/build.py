#!/usr/bin/env python3
"""Build times of bench/fixtures/build-sample: cold, fully cached, after one source change.

    python -m bench.build [--runs 5]

Without DOCKER_HOST a private platform is started in a temporary root (the way `make up`
starts it). PEER_DOCKER_HOST, when set, names a real Docker daemon to compare with; buildah,
when installed, is measured too. Each cold run uses a fresh tag and `--no-cache`.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
        if shutil.which("buildah"):
            report("buildah", scenarios(["buildah", "bud", "--layers"], context, runs, None))


if __name__ == "__main__":
    main()
