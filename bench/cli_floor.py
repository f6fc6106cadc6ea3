#!/usr/bin/env python3
"""The docker CLI's own share of `docker logs --tail 10`: the same answers, given at once.

    python -m bench.cli_floor [--runs 30] [--pause 0.2] [--peer]

Records Dockyard's answers to the three requests the CLI sends for `docker logs --tail 10`
(HEAD /_ping, the container's inspect, its logs), serves them from memory on a unix socket of
its own, and times the command against that server, Dockyard and Docker in turn. The canned
server does no work, so its time is the CLI's floor on this machine: what is above it on a
daemon is that daemon's. Without DOCKER_HOST a private Dockyard platform is started;
PEER_DOCKER_HOST names a Docker daemon, or `--peer` starts one (`bench.docker_peer`).
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_requests import REQUESTS, daemons_with_container, socket_path  # noqa: E402
from bench.stats import median, paired_ratio  # noqa: E402


def recorded_answer(path: str, method: str, target: str) -> bytes:
    """The daemon's whole answer to one request, as it could be sent on a kept connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        ask = f"{'GET' if method == 'HEAD' else method} {target} HTTP/1.1\r\n"
        sock.sendall(f"{ask}Host: api.moby.localhost\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if line.lower() != b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class CannedDaemon(asyncio.Protocol):
    """Answers each request with the recorded answer its path ends like."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self._answers = answers
        self._pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        # The CLI's requests here have no body: each ends with its head.
        self._pending += data
        while b"\r\n\r\n" in self._pending:
            head, _, self._pending = self._pending.partition(b"\r\n\r\n")
            method, target, _ = head.split(b" ", 2)
            path = target.split(b"?")[0].decode()
            answer = next(a for suffix, a in self._answers.items() if path.endswith(suffix))
            if method == b"HEAD":
                answer = answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
            self._transport.write(answer)


@contextlib.contextmanager
def canned_daemon(answers: dict[str, bytes]) -> Iterator[str]:
    """DOCKER_HOST of a server giving `answers` (by path suffix), on a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory(prefix="dycanned", dir="/tmp") as run:
        path = str(Path(run) / "docker.sock")
        serve = loop.create_unix_server(lambda: CannedDaemon(answers), path)
        server = asyncio.run_coroutine_threadsafe(serve, loop).result(timeout=10)
        try:
            yield f"unix://{path}"
        finally:
            loop.call_soon_threadsafe(server.close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
    loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between commands")
    parser.add_argument(
        "--peer", action="store_true", help="start a private dockerd when PEER_DOCKER_HOST is unset"
    )
    args = parser.parse_args()
    if not shutil.which("crun") or os.geteuid() != 0:
        print("needs root and crun", file=sys.stderr)
        return 2
    name = f"dyb-floor-{os.getpid()}"
    with contextlib.ExitStack() as stack:
        daemons = stack.enter_context(daemons_with_container("fl", args.peer, name))
        recorded = {
            target.split("{}")[-1].split("?")[0]: recorded_answer(
                socket_path(daemons["dockyard"]), method, target.format(name)
            )
            for _, method, target in REQUESTS
        }
        daemons = {"canned": stack.enter_context(canned_daemon(recorded)), **daemons}
        samples: dict[str, list[float]] = {daemon: [] for daemon in daemons}
        for _ in range(args.runs + 1):
            for daemon, daemon_host in daemons.items():
                start = time.perf_counter()
                subprocess.run(
                    ["docker", "-H", daemon_host, "logs", "--tail", "10", name],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                samples[daemon].append(time.perf_counter() - start)
                time.sleep(args.pause)
    print(f"\n{'docker logs --tail 10 (median ms)':<36}" + "".join(f"{d:>10}" for d in samples))
    print(f"{'':<36}" + "".join(f"{median(s[1:]) * 1000:10.2f}" for s in samples.values()))
    for daemon in ("dockyard", "docker"):
        if daemon in samples:
            ratio = paired_ratio(samples[daemon][1:], samples["canned"][1:])
            print(f"{daemon} takes {ratio} of the canned server's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
