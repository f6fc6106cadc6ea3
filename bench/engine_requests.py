#!/usr/bin/env python3
"""Each request of `docker logs --tail 10`, timed on its own, the way the docker CLI sends it.

    python -m bench.engine_requests [--runs 50] [--pause 0.2] [--peer]

The CLI opens a connection and asks HEAD /_ping, GET /containers/NAME/json (is it a TTY?)
and GET /containers/NAME/logs?tail=10. Here each round does the same on a fresh unix socket
connection, timing every request from its first byte sent to the last byte of its answer,
then waits --pause seconds, as between a user's commands: a server that sat idle answers
slower than a busy one, and users' commands come one by one. `bench.streams` times the whole
command; this says which request the time goes to, without the CLI's own ~10 ms.

Without DOCKER_HOST a private Dockyard platform is started in a temporary root.
PEER_DOCKER_HOST names a real Docker daemon to compare with; without it, `--peer` starts a
private one (`bench.docker_peer`). The daemons take turns round by round.
"""

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h11

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.daemons import compared_daemons  # noqa: E402
from bench.stats import median, paired_ratio  # noqa: E402

HEADERS = [("Host", "api.moby.localhost"), ("User-Agent", "Docker-Client/20.10.24 (linux)")]
# 1 MiB in 1 KiB lines: the tail has ten whole lines to give.
WRITER = "yes $(head -c 1023 /dev/zero | tr '\\0' a) | head -c 1048576"


LOGS_QUERY = "stderr=1&stdout=1&tail=10"
# (label, method, target with the container's name for {}), in the order the CLI asks.
REQUESTS = (
    ("HEAD /_ping", "HEAD", "/_ping"),
    ("GET /containers/NAME/json", "GET", "/v1.41/containers/{}/json"),
    ("GET /containers/NAME/logs?tail=10", "GET", "/v1.41/containers/{}/logs?" + LOGS_QUERY),
)


def socket_path(host: str) -> str:
    if not host.startswith("unix://"):
        raise SystemExit(f"{host}: only unix:// hosts are measured")
    return host.removeprefix("unix://")


def one_round(path: str, asked: list[tuple[str, str]]) -> list[float]:
    """Seconds each request took, on one new connection."""
    times = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        conn = h11.Connection(h11.CLIENT)
        for method, target in asked:
            start = time.perf_counter()
            request = h11.Request(method=method, target=target, headers=HEADERS)
            sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            times.append(time.perf_counter() - start)
            if status != 200:
                raise SystemExit(f"{method} {target}: status {status}")
            conn.start_next_cycle()
    return times


@contextlib.contextmanager
def daemons_with_container(tag: str, start_peer: bool, name: str) -> Iterator[dict[str, str]]:
    """{"dockyard": DOCKER_HOST, "docker": Docker's when there is one}, each with a container
    `name` that wrote its 1 MiB and exited (removed afterwards); see `compared_daemons`."""
    with contextlib.ExitStack() as stack:
        host, peer = stack.enter_context(compared_daemons(tag, start_peer))
        daemons = {"dockyard": host, **({"docker": peer} if peer else {})}
        for daemon in daemons.values():
            stack.callback(
                subprocess.run, ["docker", "-H", daemon, "rm", "-f", name], capture_output=True
            )
            prepare(daemon, name)
        yield daemons


def prepare(host: str, name: str) -> None:
    """A container named `name` that wrote its 1 MiB and exited."""
    docker = ["docker", "-H", host]
    subprocess.run(
        [*docker, "run", "--name", name, "busybox", "sh", "-c", WRITER],
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3, help="uncounted rounds first")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between rounds")
    parser.add_argument(
        "--peer", action="store_true", help="start a private dockerd when PEER_DOCKER_HOST is unset"
    )
    args = parser.parse_args()
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    name = f"dyb-requests-{os.getpid()}"
    with daemons_with_container("rq", args.peer, name) as daemons:
        asked = [(method, target.format(name)) for _, method, target in REQUESTS]
        paths = {daemon: socket_path(daemon_host) for daemon, daemon_host in daemons.items()}
        samples: dict[str, list[list[float]]] = {d: [] for d in daemons}
        for round_no in range(args.warmup + args.runs):
            for daemon, path in paths.items():
                times = one_round(path, asked)
                if round_no >= args.warmup:
                    samples[daemon].append(times)
                time.sleep(args.pause)
    report(samples)
    return 0


def report(samples: dict[str, list[list[float]]]) -> None:
    names = list(samples)
    print(f"\n{'request (median ms)':<36}" + "".join(f"{n:>10}" for n in names))
    for i, label in enumerate([*(label for label, _, _ in REQUESTS), "all three"]):
        per = {n: [r[i] if i < len(REQUESTS) else sum(r) for r in samples[n]] for n in names}
        line = f"{label:<36}" + "".join(f"{median(per[n]) * 1000:10.2f}" for n in names)
        if "docker" in per:
            line += f"   Dockyard takes {paired_ratio(per['dockyard'], per['docker'])}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
