"""A whole platform in a temporary root, for end-to-end tests and benchmarks.

It prepares the root the way `make up` does (migrate, prepare_node, base images) and starts
the same processes through the launcher, so what is measured and tested is what users run.
"""

import contextlib
import hashlib
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runtime.containers import lifecycle
from runtime.network import NetworkManager
from runtime.paths import RuntimePaths

from .supervisor import Platform

SOURCE = Path(__file__).resolve().parent.parent
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


@dataclass
class Ephemeral:
    env: dict
    root: Path
    run: Path

    @property
    def socket(self) -> Path:
        return Path(self.env["DOCKYARD_ENGINE_SOCKET"])

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.env['DOCKYARD_PORT']}"

    def manage(self, *args: str, timeout: float = 1800) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=SOURCE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def docker(self, *args: str, input: str | None = None, timeout: float = 120):
        env = {**os.environ, "DOCKER_HOST": self.docker_host}
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        return subprocess.run(
            ["docker", *args], input=input, capture_output=True, text=True, timeout=timeout, env=env
        )


def remove_all_containers(platform: Ephemeral) -> None:
    """Whatever a test left behind goes, through the API and then the runtime, so the host is
    as it was even when the platform misbehaved."""
    leftovers = platform.docker("ps", "-aq").stdout.split()
    if leftovers:
        platform.docker("rm", "-f", *leftovers)
    paths = RuntimePaths(root=platform.root, run=platform.run)
    for cid in lifecycle.list_ids(paths):
        with contextlib.suppress(Exception):
            lifecycle.remove(paths, cid, force=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ephemeral_platform(
    root: Path,
    run: Path,
    images: tuple[str, ...] = ("busybox:latest",),
    services: tuple[str, ...] = ("redis", "worker", "agent", "gateway"),
) -> Iterator[Ephemeral]:
    """Start the platform with its state in `root` and its sockets in `run` (keep it short)."""
    # Names derive from the root, so a platform restarted on the same root is the same node
    # with the same bridges, namespaces and nftables table, apart from `make up` and other tests.
    tag = hashlib.sha256(str(root).encode()).hexdigest()
    env = {
        **os.environ,
        "DOCKYARD_ROOT": str(root),
        "DOCKYARD_RUN_DIR": str(run),
        "DOCKYARD_NODE": f"eph-{tag[:6]}",
        "DOCKYARD_PORT": str(free_port()),
        "DOCKYARD_ENGINE_SOCKET": str(run / "docker.sock"),
        "DOCKYARD_NETWORK_PREFIX": f"dy{tag[:4]}",
        "DJANGO_SETTINGS_MODULE": "dockyard.settings",
    }
    env.pop("DOCKYARD_REDIS_URL", None)
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    platform = Ephemeral(env=env, root=root, run=run)
    ip_forward = IP_FORWARD.read_text()
    try:
        platform.manage("migrate", "--noinput")
        platform.manage("prepare_node")
        if images:
            platform.manage("import_base_images", *images)
        with Platform(env=env, services=list(services)):
            yield platform
    finally:
        paths = RuntimePaths(root=root, run=run)
        NetworkManager(paths, prefix=env["DOCKYARD_NETWORK_PREFIX"]).teardown()
        IP_FORWARD.write_text(ip_forward)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and certificate for 127.0.0.1, valid for a day."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_https(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    unverified = ssl._create_unverified_context()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2, context=unverified)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def tls_web(root: Path, key: Path, cert: Path, setup: str = "") -> Iterator[str]:
    """The web app (dashboard, registry) alone, served over TLS from `root`.

    skopeo and podman try HTTPS first and wait out a 10-second handshake against plain HTTP,
    so registry tests and benches serve TLS. `setup` runs in `manage.py shell` after migrate.
    Answers "127.0.0.1:<port>".
    """
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DOCKYARD_ROOT": str(root),
        "DOCKYARD_DB": str(root / "db.sqlite3"),
        "DOCKYARD_RUN_DIR": str(root / "run"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "DJANGO_SETTINGS_MODULE": "dockyard.settings",
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(SOURCE / "manage.py")]
    for args in (["migrate", "--noinput", "--skip-checks"], ["shell", "-c", setup]):
        if args[0] == "shell" and not setup:
            continue
        subprocess.run(
            [*manage, *args], cwd=SOURCE, env=env, check=True, capture_output=True, timeout=300
        )
    port = free_port()
    log = root / "web.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard.web",
                "--port",
                str(port),
                "--tls-key",
                str(key),
                "--tls-cert",
                str(cert),
            ],
            cwd=SOURCE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_https(f"https://127.0.0.1:{port}/v2/", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)
