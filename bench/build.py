#!/usr/bin/env python3
"""Build times, cold and fully cached, of a small context and of a 100 MB one.

    python -m bench.build [--runs 5] [--mib 100] [--peer]

The small context is bench/fixtures/build-sample (a two-stage build with RUN and COPY); the
large one is the same with `--mib` MiB of incompressible files under blob/ that the
Dockerfile copies, so a cached rebuild sends, unpacks and hashes all of it before the cache
answers. Each cold run is `--no-cache`; each cached run follows a build of the same context.

Without DOCKER_HOST a private platform is started in a temporary root (the way `make up`
starts it). PEER_DOCKER_HOST names a real Docker daemon to compare with (its classic
builder, DOCKER_BUILDKIT=0, the one Dockyard speaks); `--peer` starts a private one when it
is unset (bench/docker_peer.py, busybox copied from Dockyard) and stops it afterwards. The
daemons take turns build by build, and the ratio is the median of per-round ratios. buildah,
when installed, is measured too, with storage of its own, in mount and network namespaces of
its own.
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
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.docker_peer import docker_peer  # noqa: E402
from bench.run_latency import BUSYBOX_ARCHIVE, PRIVATE_HOST, podman_config  # noqa: E402
from bench.stats import median, paired_ratio, summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform  # noqa: E402

SAMPLE = Path(__file__).resolve().parent / "fixtures" / "build-sample"
MIB = 1024 * 1024
# The large context's bytes come as a few big files and many small ones, as a source tree
# with assets has them.
BIG_FILES = 4


@dataclass
class Builder:
    name: str
    # The command line up to its build verb and the flags every build takes.
    argv: list[str]
    env: dict | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)

    def build(self, context: Path, tag: str, cached: bool) -> float:
        flags = [] if cached else ["--no-cache"]
        self.tags.add(tag)
        start = time.perf_counter()
        done = subprocess.run(
            [*self.argv, *flags, "-t", tag, str(context)],
            capture_output=True,
            env=self.env,
        )
        took = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} build failed: {done.stderr.decode()[-2000:]}")
        return took


def large_context(directory: Path, mib: int) -> Path:
    """The sample with `mib` MiB of random files that its Dockerfile copies."""
    context = directory / "large"
    shutil.copytree(SAMPLE, context)
    blob = context / "blob"
    blob.mkdir()
    big = mib * MIB // 2
    for n in range(BIG_FILES):
        (blob / f"asset-{n}.bin").write_bytes(os.urandom(big // BIG_FILES))
    small_dir = blob / "small"
    small_dir.mkdir()
    for n in range((mib * MIB - big) // (64 * 1024)):
        (small_dir / f"part-{n:05d}.bin").write_bytes(os.urandom(64 * 1024))
    dockerfile = (context / "Dockerfile").read_text()
    (context / "Dockerfile").write_text(dockerfile.replace("EXPOSE", "COPY blob/ ./blob/\nEXPOSE"))
    return context


def measure(builders: list[Builder], contexts: dict[str, Path], runs: int) -> None:
    for label, context in contexts.items():
        tag = f"bench-build-{secrets.token_hex(3)}"
        for builder in builders:
            # Unmeasured: the first build also fills the page cache and the build cache.
            builder.build(context, tag, cached=False)
        for _ in range(runs):
            for builder in builders:
                cold = builder.samples.setdefault(f"{label} context, cold", [])
                cold.append(builder.build(context, tag, cached=False))
                cached = builder.samples.setdefault(f"{label} context, cached", [])
                cached.append(builder.build(context, tag, cached=True))


def report(builders: list[Builder]) -> None:
    for builder in builders:
        for scenario, samples in builder.samples.items():
            print(summary(f"{builder.name}: {scenario}", samples))
    ours = builders[0]
    for other in builders[1:]:
        for scenario, samples in ours.samples.items():
            theirs = other.samples[scenario]
            print(
                f"{scenario}: dockyard {median(samples) * 1000:.0f} ms, {other.name} "
                f"{median(theirs) * 1000:.0f} ms; Dockyard takes "
                f"{paired_ratio(samples, theirs)} {other.name}'s time"
            )
    if len(builders) == 1:
        print("docker: PEER_DOCKER_HOST not set and no --peer; no Docker daemon to compare with")


@contextlib.contextmanager
def private_buildah() -> Iterator[Builder]:
    """A buildah that has busybox and nothing of the host's."""
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
        # `--layers` keeps a step cache, as Docker's builder does.
        yield Builder("buildah", [*buildah, "bud", "--layers"], env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def remove_tags(host: str, builder: Builder) -> None:
    if builder.tags:
        subprocess.run(["docker", "-H", host, "rmi", "-f", *builder.tags], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=100, help="MiB of the large context")
    parser.add_argument(
        "--peer", action="store_true", help="start a private dockerd when PEER_DOCKER_HOST is unset"
    )
    parser.add_argument("--no-buildah", action="store_true", help="leave buildah out")
    args = parser.parse_args()
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp, contextlib.ExitStack() as stack:
        small = Path(tmp) / "small"
        shutil.copytree(SAMPLE, small)
        contexts = {"small": small, f"{args.mib} MB": large_context(Path(tmp), args.mib)}
        host = os.environ.get("DOCKER_HOST")
        if not host:
            run_dir = Path(tempfile.mkdtemp(prefix="dyb-", dir="/tmp"))
            stack.callback(shutil.rmtree, run_dir, True)
            platform = stack.enter_context(ephemeral_platform(Path(tmp) / "root", run_dir))
            host = platform.docker_host
        builders = [Builder("dockyard", ["docker", "-H", host, "build"])]
        peer = os.environ.get("PEER_DOCKER_HOST")
        if not peer and args.peer:
            peer = stack.enter_context(docker_peer(image_source=host))
        if peer:
            classic = {**os.environ, "DOCKER_BUILDKIT": "0"}
            docker = Builder("docker", ["docker", "-H", peer, "build"], classic)
            stack.callback(remove_tags, peer, docker)
            builders.append(docker)
        if shutil.which("buildah") and shutil.which("unshare") and not args.no_buildah:
            builders.append(stack.enter_context(private_buildah()))
        measure(builders, contexts, args.runs)
    report(builders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
