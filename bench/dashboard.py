#!/usr/bin/env python3
"""The dashboard under load: the containers page with 500 containers, its live updates, and
the web terminal's keystroke-to-echo round trip.

    python -m bench.dashboard [--containers 500] [--runs 30] [--keys 200]

A private platform (with its web process) is started in a temporary root. Page and JSON times
are server times (Django's test client in this process, on the platform's database); the
update and echo times are round trips over loopback websockets to the platform's web process.
Targets: page under 150 ms; echo p95 under 30 ms.
"""

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import measure, summary  # noqa: E402
from dockyard.ephemeral import ephemeral_platform  # noqa: E402


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def fill(count: int):
    """alice (an administrator here, so she also sees CLI-made containers) and `count` rows."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from engine.models import Container
    from engine.nodes import local_node

    alice = User.objects.create_user("alice", password="bench-pw-1", is_superuser=True)
    node = local_node()
    Container.objects.bulk_create(
        Container(
            id=secrets.token_hex(32),
            name=f"bench{i}",
            node=node,
            owner=alice,
            image_id="sha256:" + "0" * 64,
            image_ref="busybox:latest",
            config={"Cmd": ["sleep", "1"]},
            host_config={"PortBindings": {"80/tcp": [{"HostPort": str(8000 + i)}]}},
            status="exited",
            created=timezone.now(),
        )
        for i in range(count)
    )
    return alice


async def update_round_trips(url: str, cookie: str, runs: int) -> list[float]:
    import websockets
    from asgiref.sync import sync_to_async

    from engine.events import make_event, publish
    from engine.models import Container

    c = await Container.objects.afirst()
    samples = []
    async with websockets.connect(f"{url}/ws/containers/", additional_headers=[cookie]) as ws:
        for _ in range(runs):
            start = time.perf_counter()
            await sync_to_async(publish)(make_event("container", "update", c.id, {}))
            while True:
                message = await ws.recv()
                if c.id in message and '"row"' in message:
                    break
            samples.append(time.perf_counter() - start)
    return samples


async def echo_round_trips(url: str, cookie: str, cid: str, keys: int) -> list[float]:
    import websockets

    samples = []
    path = f"{url}/ws/containers/{cid}/terminal/?cmd=/bin/sh"
    async with websockets.connect(path, additional_headers=[cookie]) as ws:
        await ws.send('{"type": "resize", "cols": 120, "rows": 40}')
        prompt = b""
        while b"#" not in prompt:
            prompt += await asyncio.wait_for(ws.recv(), 10)
        for i in range(keys):
            key = b"abcdefghij"[i % 10 : i % 10 + 1]
            start = time.perf_counter()
            await ws.send(key)
            echoed = b""
            while key not in echoed:
                echoed += await asyncio.wait_for(ws.recv(), 5)
            samples.append(time.perf_counter() - start)
        await ws.send(b"\x15exit\n")
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keys", type=int, default=200)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    run = Path("/tmp") / f"dyb{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "gateway", "web")
    try:
        with ephemeral_platform(root, run, services=services) as platform:
            os.environ.update(platform.env)
            import django

            django.setup()
            from django.test import Client

            alice = fill(options.containers)
            client = Client()
            client.force_login(alice)
            cookie = ("Cookie", f"sessionid={client.cookies['sessionid'].value}")
            page = measure(lambda: client.get("/"), options.runs)
            data = measure(lambda: client.get("/ui/containers.json"), options.runs)
            print(summary(f"containers page, {options.containers} rows", page))
            print(summary(f"containers JSON, {options.containers} rows", data))
            ws_url = platform.web_url.replace("http://", "ws://")
            updates = asyncio.run(update_round_trips(ws_url, cookie, options.runs))
            print(summary("event -> websocket row update", updates))
            started = platform.docker("run", "-d", "busybox", "sleep", "600")
            cid = started.stdout.strip()
            try:
                echoes = asyncio.run(echo_round_trips(ws_url, cookie, cid, options.keys))
            finally:
                platform.docker("rm", "-f", cid)
            print(summary("terminal keystroke -> echo", echoes))
            p50, p95 = statistics.median(echoes) * 1000, percentile(echoes, 0.95) * 1000
            print(f"terminal echo p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 < 30 ms)")
            page_ms = statistics.median(page) * 1000
            print(f"containers page median {page_ms:.1f} ms (target < 150 ms)")
    finally:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
