"""Helpers of the network end-to-end tests: names, containers and networks removed after a
test, a web server to reach, and the host state a platform may leave behind."""

import contextlib
import http.client
import ipaddress
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from pyroute2 import IPRoute


def name() -> str:
    return f"n{uuid.uuid4().hex[:8]}"


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def get(host: str, port: int, path: str = "/hostname", wait: float = 5) -> str | None:
    """GET `path`, retrying while the server in the container starts."""
    deadline = time.monotonic() + wait
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode()
        except OSError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        finally:
            conn.close()


def host_address(prefix: str) -> str:
    with IPRoute() as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=2):
            ip = addr.get("address")
            if not ipaddress.ip_address(ip).is_loopback and not names[addr["index"]].startswith(
                prefix
            ):
                return ip
    pytest.skip("the host has no non-loopback IPv4 address")


@contextlib.contextmanager
def containers(platform):
    made: list[str] = []
    try:
        yield made
    finally:
        if made:
            platform.docker("rm", "-f", *made)


@contextlib.contextmanager
def networks(platform):
    made: list[str] = []
    try:
        yield made
    finally:
        for net in made:
            platform.docker("network", "rm", net)


def run_web_server(platform, container: str, *options: str) -> None:
    """A detached busybox httpd on port 80 of `container`, serving /etc."""
    ok(
        platform.docker(
            "run", "-d", "--name", container, *options,
            "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
        )
    )  # fmt: skip


def prefix_of(platform) -> str:
    return platform.env["DOCKYARD_NETWORK_PREFIX"]


def own_state(prefix: str) -> dict:
    """The platform's links, addresses, routes, namespaces and rules. Other platforms may come
    and go on the host meanwhile; nothing else is ever touched, by construction."""
    with IPRoute() as ipr:
        ours = {
            link["index"]: link.get("ifname")
            for link in ipr.get_links()
            if link.get("ifname", "").startswith(prefix)
        }
        addrs = sorted(
            (ours[a["index"]], a.get("address"), a["prefixlen"])
            for a in ipr.get_addr()
            if a["index"] in ours
        )
        routes = sorted(
            (ours[r.get("oif")], str(r.get("dst")), r["dst_len"])
            for r in ipr.get_routes(family=0)
            if r.get("oif") in ours
        )
    netns = sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    return {
        "links": sorted(ours.values()),
        "addrs": addrs,
        "routes": routes,
        "netns": netns,
        "nft": nft_table(prefix),
    }


def nft_table(prefix: str) -> list:
    """The platform's ip and ip6 tables."""
    items = []
    for family in ("ip", "ip6"):
        out = subprocess.run(
            ["nft", "-j", "list", "table", family, prefix], capture_output=True, text=True
        )
        items += json.loads(out.stdout)["nftables"] if out.returncode == 0 else []
    # Handles change each time the table is rebuilt; the rules are what matter.
    return [
        {kind: {k: v for k, v in body.items() if k != "handle"} for kind, body in item.items()}
        for item in items
        if "metainfo" not in item
    ]


def proxies(prefix: str) -> list[int]:
    """Pids of the platform's userland proxies (each names its prefix in its tag)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
        except OSError:
            continue
        if any(a.startswith(f"{prefix}:".encode()) for a in argv):
            found.append(int(proc.name))
    return found
