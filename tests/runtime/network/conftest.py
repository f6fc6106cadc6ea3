import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from runtime.network import NetworkManager

BUSYBOX = "/bin/busybox"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def host_network_state(prefix: str) -> dict:
    """Links, addresses, routes and foreign nft tables: what the tests must leave as found."""
    with IPRoute() as ipr:
        links = sorted((link.get("ifname"), link.get("address")) for link in ipr.get_links())
        addrs = sorted((a.get("address"), a["prefixlen"], a["index"]) for a in ipr.get_addr())
        routes = sorted(
            (
                r.get("table"),
                str(r.get("dst")),
                r["dst_len"],
                str(r.get("gateway")),
                r.get("oif") or 0,
            )
            for r in ipr.get_routes(family=0)
        )
    ruleset = json.loads(
        subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True).stdout
    )["nftables"]
    foreign = [
        item
        for item in ruleset
        if "metainfo" not in item
        and next(iter(item.values())).get("table", next(iter(item.values())).get("name")) != prefix
    ]
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    return {"links": links, "addrs": addrs, "routes": routes, "nft": foreign, "netns": netns}


@pytest.fixture
def prefix() -> str:
    return "dyt" + secrets.token_hex(2)


@pytest.fixture
def network(runtime_paths, prefix):
    """A NetworkManager with a private prefix; everything it made is gone afterwards."""
    before = host_network_state(prefix)
    forward = IP_FORWARD.read_text()
    manager = NetworkManager(runtime_paths, prefix=prefix)
    try:
        yield manager
    finally:
        try:
            manager.teardown()
        finally:
            IP_FORWARD.write_text(forward)
    assert host_network_state(prefix) == before


@contextmanager
def serving(ns_path: str, text: str, port: int = 80):
    """busybox httpd inside the namespace, answering `text` on /."""
    with tempfile.TemporaryDirectory() as www:
        Path(www, "index.html").write_text(text)
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns_path}", BUSYBOX, "httpd", "-f", "-p", str(port), "-h", www]
        )
        try:
            time.sleep(0.3)
            yield
        finally:
            proc.kill()
            proc.wait()


def in_netns(ns_path: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nsenter", f"--net={ns_path}", BUSYBOX, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_HTTP_GET = """
import http.client, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=3)
conn.request("GET", "/")
sys.stdout.write(conn.getresponse().read().decode())
"""


def fetch(ns_path: str, host: str, port: int = 80) -> str | None:
    """GET / from inside the namespace (busybox's static wget crashes resolving services)."""
    result = subprocess.run(
        ["nsenter", f"--net={ns_path}", sys.executable, "-c", _HTTP_GET, host, str(port)],
        capture_output=True,
        text=True,
        timeout=15,
    )
    return result.stdout if result.returncode == 0 else None


def pings(ns_path: str, address: str) -> bool:
    return in_netns(ns_path, "ping", "-c", "1", "-W", "1", address).returncode == 0
