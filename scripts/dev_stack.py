#!/usr/bin/env python3
"""docker-compose.dev.yml end to end under a private Docker daemon, with the seed acceptance script.

    sudo .venv/bin/python scripts/dev_stack.py [--seed PATH] [--debian-archive FILE]

Phases, each timed: a private containerd + dockerd (bench/docker_peer.py); debian:bookworm
made with debootstrap (runtime/images/base.py) and loaded into it, since there is no Docker
Hub; the stack's image built with the host's network (the peer gives containers no NAT
egress); the stack up and healthy; busybox built on the stack's node and published to its
registry; the seed acceptance script run against the stack's engine socket. Then, whatever
happened, everything goes: the platform's containers, the stack's containers, images,
volumes and networks, the daemon, and this run's files.

The engine socket is published in a run directory of this run's own (DOCKYARD_DEV_RUN_DIR),
never /run/dockyard, the node's state kept in a directory of its own (DOCKYARD_DEV_STATE_DIR),
and the dashboard and registry served on a free loopback port (DOCKYARD_DEV_PORT).
`--debian-archive FILE` keeps the debootstrapped image in FILE and reuses it on later runs.
Prints the acceptance script's lines, its `N passed, N failed` and the time of each phase;
exits with the acceptance script's status.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SOURCE))

from bench.docker_peer import answers, docker_peer  # noqa: E402
from bench.peer_cleanup import mounts_under  # noqa: E402
from runtime.cgroups import CGROUP_ROOT, container_cgroup  # noqa: E402
from runtime.images.archive_save import save_archive  # noqa: E402
from runtime.images.base import build_debian  # noqa: E402
from runtime.images.store import ImageStore  # noqa: E402
from runtime.paths import RuntimePaths  # noqa: E402

COMPOSE_FILE = SOURCE / "docker-compose.dev.yml"
SEED_SCRIPT = SOURCE.parent / "shared" / "acceptance" / "seed_commands.py"
ADMIN = "admin"
BASE_IMAGE = "debian:bookworm"
SEED_IMAGE = "busybox:latest"
# Trust anchors added on this host (update-ca-certificates' place for them): the image's
# pip and npm need them behind a TLS-inspecting proxy.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


class Timings:
    """Seconds per phase, in the order the phases ran."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"==> {name}", flush=True)
        began = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = time.monotonic() - began
            print(f"==> {name}: {self.phases[name]:.1f}s", flush=True)

    def report(self) -> str:
        return "\n".join(f"  {name:<32} {secs:7.1f}s" for name, secs in self.phases.items())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    """Run `argv`, echoing it; its output goes to ours. Raises on a non-zero exit."""
    # Build arguments may be long (certificates): their names are enough to show.
    shown = [a.split("=", 1)[0] + "=..." if "\n" in a else a for a in argv]
    print("    $ " + " ".join(shown), flush=True)
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv[:4])} ...` failed with exit code {done.returncode}")


def load_debian(host: str, work: Path, archive: Path | None) -> None:
    """debian:bookworm into the daemon at `host`: from `archive` if it exists, else debootstrap."""
    if archive is None or not archive.exists():
        paths = RuntimePaths(work / "base", work / "base-run").ensure()
        store = ImageStore(paths)
        build_debian(store)
        target = archive or work / "debian.tar"
        with open(target, "wb") as out:
            save_archive(store, [BASE_IMAGE], out)
        archive = target
    run(["docker", "-H", host, "load", "-i", str(archive)])


def local_ca_certs() -> str:
    return "".join(p.read_text() for p in sorted(LOCAL_CA_DIR.rglob("*.crt")) if p.is_file())


def wait_for(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(1)


def healthy(host: str, container: str) -> bool:
    done = subprocess.run(
        ["docker", "-H", host, "inspect", "-f", "{{.State.Health.Status}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() == "healthy"


def remove_platform_containers(stack_host: str) -> list[str]:
    """The containers the stack ran on this kernel, removed through its own engine socket.

    They live in the host's pid namespace and cgroups, outside the stack's containers, so
    removing the stack alone would leave them running.
    """
    listed = subprocess.run(
        ["docker", "-H", stack_host, "ps", "-aq", "--no-trunc"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    if listed:
        rm = ["docker", "-H", stack_host, "rm", "-f", *listed]
        subprocess.run(rm, capture_output=True, check=False, timeout=300)
    return listed


def remove_cgroups(container_ids: list[str]) -> None:
    """Cgroups of the platform's containers that a failed removal left, each hierarchy."""
    for cid in container_ids:
        relative = container_cgroup(cid).lstrip("/")
        for hierarchy in CGROUP_ROOT.iterdir():
            with contextlib.suppress(OSError):
                (hierarchy / relative).rmdir()


def run_seed(seed: Path, stack_host: str, port: int, password: str, work: Path) -> int:
    env = {
        **os.environ,
        "DOCKER_HOST": stack_host,
        "DOCKER_CONFIG": str(work / "docker-config"),
        # No Debian mirror reaches the stack's containers (the daemon gives them no NAT).
        "SEED_APT_IMAGE": "",
        "SEED_IMAGE": "busybox",
        "SEED_REGISTRY": f"127.0.0.1:{port}",
        "SEED_USER": ADMIN,
        "SEED_PASSWORD": password,
        "SEED_PUSH_REPO": f"{ADMIN}/seed-check",
    }
    done = subprocess.run(
        [sys.executable, str(seed)], env=env, stdin=subprocess.DEVNULL, timeout=1800, check=False
    )
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, default=SEED_SCRIPT, help="acceptance script")
    parser.add_argument(
        "--debian-archive",
        type=Path,
        help="keep debian:bookworm's docker archive here and reuse it when it exists",
    )
    args = parser.parse_args(argv)
    if not args.seed.exists():
        parser.error(f"no acceptance script at {args.seed}; pass --seed")
    if os.geteuid() != 0:
        parser.error("the stack's worker and agent run containers on this kernel: run as root")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM stops it as Ctrl-C does: through the teardown.
    signal.signal(signal.SIGTERM, interrupt)
    tag = secrets.token_hex(3)
    project = f"dydev{tag}"
    # Short: the engine and agent sockets live in the run directory (108-byte socket paths).
    work = Path(tempfile.mkdtemp(prefix=f"dydev-{tag}-", dir="/tmp"))
    run_dir, state_dir = work / "run", work / "state"
    run_dir.mkdir()
    state_dir.mkdir()
    port = free_port()
    password = secrets.token_urlsafe(16)
    stack_host = f"unix://{run_dir / 'docker.sock'}"
    timings = Timings()
    status = 1
    try:
        # The worker's mounts reach the agent through this directory only if it is a shared
        # mount, which / need not be (it is private without systemd).
        run(["mount", "--bind", str(state_dir), str(state_dir)])
        run(["mount", "--make-shared", str(state_dir)])
        daemon = contextlib.ExitStack()
        with timings.phase("private docker daemon"):
            host = daemon.enter_context(docker_peer())
        try:
            env = {
                **os.environ,
                "DOCKER_HOST": host,
                "COMPOSE_PROJECT_NAME": project,
                "DOCKYARD_DEV_RUN_DIR": str(run_dir),
                "DOCKYARD_DEV_STATE_DIR": str(state_dir),
                "DOCKYARD_DEV_PORT": str(port),
                "DJANGO_SUPERUSER_USERNAME": ADMIN,
                "DJANGO_SUPERUSER_PASSWORD": password,
            }
            compose = ["docker-compose", "-f", str(COMPOSE_FILE)]
            platform_ids: list[str] = []
            try:
                with timings.phase(f"{BASE_IMAGE} (debootstrap, load)"):
                    load_debian(host, work, args.debian_archive)
                with timings.phase("build the stack's image"):
                    ca = ["--build-arg", f"LOCAL_CA_CERTS={local_ca_certs()}"]
                    run([*compose, "build", *ca, "web"], env=env)
                with timings.phase("up until healthy"):
                    run([*compose, "up", "-d"], env=env)
                    web = f"{project}_web_1"
                    wait_for("web", lambda: healthy(host, web), 300)
                    # What the launcher itself waits for: Celery's pidfile once every task
                    # module is imported, the agent's mark once it has reconciled.
                    wait_for("the worker", (run_dir / "worker.pid").exists, 120)
                    wait_for("the agent", (run_dir / "agent.ready").exists, 120)
                    wait_for("the engine socket", lambda: answers(stack_host), 120)
                with timings.phase("busybox built and published"):
                    manage = [*compose, "exec", "-T", "worker", "python", "manage.py"]
                    run([*manage, "import_base_images", SEED_IMAGE], env=env)
                    run([*manage, "publish_base_images", SEED_IMAGE], env=env)
                with timings.phase("seed acceptance script"):
                    status = run_seed(args.seed, stack_host, port, password, work)
            except (Exception, KeyboardInterrupt) as exc:
                print(f"error: {exc or 'interrupted'}", file=sys.stderr)
                logs = [*compose, "logs", "--no-color", "--tail", "40"]
                subprocess.run(logs, env=env, check=False, timeout=60)
            finally:
                with timings.phase("teardown"):
                    if (run_dir / "docker.sock").exists():
                        platform_ids = remove_platform_containers(stack_host)
                    down = [*compose, "down", "--volumes", "--rmi", "all", "--remove-orphans"]
                    subprocess.run(down, env=env, check=False, timeout=300)
                    subprocess.run(
                        ["docker", "-H", host, "rmi", "-f", BASE_IMAGE],
                        capture_output=True,
                        check=False,
                    )
                    remove_cgroups(platform_ids)
        finally:
            with timings.phase("stop the private daemon"):
                daemon.close()
    finally:
        for point in mounts_under(work):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"Acceptance script exit status: {status}", flush=True)
    print("Phases:\n" + timings.report(), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
