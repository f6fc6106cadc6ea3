#!/usr/bin/env python3
"""Container networking: run latency with a network, TCP throughput and connect latency.

    python -m bench.network [--runs 20] [--mb 256]

Measures, through the docker CLI: `docker run --rm busybox true` on the default bridge, on a
user network and with `--network none`; then TCP connect latency and throughput host to
container, container to container (a client in the other container's network namespace) and
through a published port on 127.0.0.1. The servers run inside a busybox container (httpd for
connects, `nc -ll` into dd for a sink). Without DOCKER_HOST a private platform is started in
a temporary root; PEER_DOCKER_HOST, when set, names a real Docker daemon to compare with.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import command, measure, summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform  # noqa: E402

# Run as its own process, in the host's or a container's network namespace.
CLIENT = r"""
import json, socket, sys, time
mode, host = sys.argv[1], sys.argv[2]
port, count, size = (int(a) for a in sys.argv[3:6])
out = []
for _ in range(count):
    if mode == "connect":
        start = time.perf_counter()
        s = socket.create_connection((host, port), timeout=5)
        out.append(time.perf_counter() - start)
        s.close()
    else:
        s = socket.create_connection((host, port), timeout=5)
        buf, sent = b"\0" * 65536, 0
        start = time.perf_counter()
        while sent < size:
            s.sendall(buf)
            sent += len(buf)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        out.append(sent / (time.perf_counter() - start) / 1e6)
        s.close()
print(json.dumps(out))
"""

SERVER = "httpd -p 80 -h /etc; exec nc -ll -p 5001 -e /bin/dd of=/dev/null bs=65536"


class Docker:
    def __init__(self, host: str):
        self.host = host

    def argv(self, *args: str) -> list[str]:
        return ["docker", "-H", self.host, *args]

    def __call__(self, *args: str) -> str:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def inspect(self, cid: str, template: str) -> str:
        return self("inspect", "-f", template, cid)


def client(netns: str | None, mode: str, host: str, port: int, count: int, size: int) -> list:
    argv = [sys.executable, "-c", CLIENT, mode, host, str(port), str(count), str(size)]
    if netns:
        argv = ["nsenter", f"--net={netns}", *argv]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def throughput(label: str, samples: list[float]) -> str:
    return f"{label:<44} median {statistics.median(samples):8.1f} MB/s  n={len(samples)}"


def wait_listening(netns: str | None, host: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            client(netns, "connect", host, port, 1, 0)
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def bench_daemon(who: str, docker: Docker, runs: int, size: int) -> list[str]:
    lines = []
    net = f"bench{os.getpid()}"
    docker("network", "create", net)
    made: list[str] = []
    try:
        for label, extra in (
            ("default bridge", []),
            ("user network", ["--network", net]),
            ("--network none", ["--network", "none"]),
        ):
            argv = docker.argv("run", "--rm", *extra, "busybox", "true")
            lines.append(summary(f"{who}: run --rm true, {label}", measure(command(argv), runs)))
        server = docker(
            "run",
            "-d",
            "-p",
            "127.0.0.1::80",
            "-p",
            "127.0.0.1::5001",
            "busybox",
            "sh",
            "-c",
            SERVER,
        )
        made.append(server)
        peer = docker("run", "-d", "busybox", "sleep", "3600")
        made.append(peer)
        ip = docker.inspect(server, "{{.NetworkSettings.IPAddress}}")
        peer_ns = docker.inspect(peer, "{{.NetworkSettings.SandboxKey}}")
        published = {
            port: int(docker("port", server, f"{port}/tcp").splitlines()[0].rsplit(":", 1)[1])
            for port in (80, 5001)
        }
        wait_listening(None, ip, 80)
        paths = [
            ("host -> container", None, ip, 80, 5001),
            ("container -> container", peer_ns, ip, 80, 5001),
            ("host -> 127.0.0.1 published", None, "127.0.0.1", published[80], published[5001]),
        ]
        for label, netns, host, web, sink in paths:
            connects = client(netns, "connect", host, web, runs * 10, 0)
            lines.append(summary(f"{who}: connect {label}", connects))
            rates = client(netns, "send", host, sink, 5, size)
            lines.append(throughput(f"{who}: TCP {label}", rates))
    finally:
        if made:
            subprocess.run(docker.argv("rm", "-f", *made), capture_output=True, check=False)
        subprocess.run(docker.argv("network", "rm", net), capture_output=True, check=False)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mb", type=int, default=256, help="MB sent per throughput sample")
    args = parser.parse_args()
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    lines = []
    with contextlib.ExitStack() as stack:
        host = os.environ.get("DOCKER_HOST")
        if not host:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-net-")))
            run = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dyn", dir="/tmp")))
            host = stack.enter_context(ephemeral_platform(root / "p", run / "p")).docker_host
        lines += bench_daemon("dockyard", Docker(host), args.runs, args.mb << 20)
    peer = os.environ.get("PEER_DOCKER_HOST")
    if peer:
        lines += bench_daemon("docker  ", Docker(peer), args.runs, args.mb << 20)
    for line in lines:
        print(line)
    if not peer:
        print("docker: PEER_DOCKER_HOST not set; no Docker daemon to compare with on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
