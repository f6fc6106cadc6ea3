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
IP6_FORWARD = Path("/proc/sys/net/ipv6/conf/all/forwarding")


def _without_counters(value):
    """nftables JSON without counters, whose packets and bytes move with any traffic."""
    if isinstance(value, dict):
        return {k: _without_counters(v) for k, v in value.items() if k != "counter"}
    if isinstance(value, list):
        return [_without_counters(v) for v in value if not (isinstance(v, dict) and "counter" in v)]
    return value


def host_network_state(prefix: str) -> dict:
    """What a manager of `prefix` could have made on the host: its links with their addresses
    and routes, its namespaces and its nftables tables (in any family, without counters).

    Only these: the host may also run Docker, Podman or another platform, whose links, rules
    and counters change on their own while a test runs.
    """
    with IPRoute() as ipr:
        ours = {
            link["index"]: link.get("ifname")
            for link in ipr.get_links()
            if (link.get("ifname") or "").startswith(prefix)
        }
        links = sorted(ours.values())
        addrs = sorted(
            (ours[a["index"]], a.get("address"), a["prefixlen"])
            for a in ipr.get_addr()
            if a["index"] in ours
        )
        routes = sorted(
            (
                r.get("table"),
                str(r.get("dst")),
                r["dst_len"],
                str(r.get("gateway")),
                ours[r.get("oif")],
            )
            for r in ipr.get_routes(family=0)
            if r.get("oif") in ours
        )
    ruleset = json.loads(
        subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True).stdout
    )["nftables"]
    tables = [
        _without_counters(item)
        for item in ruleset
        if "metainfo" not in item
        and next(iter(item.values())).get("table", next(iter(item.values())).get("name")) == prefix
    ]
    netns = (
        sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
        if os.path.isdir("/run/netns")
        else []
    )
    return {"links": links, "addrs": addrs, "routes": routes, "nft": tables, "netns": netns}


@pytest.fixture
def prefix() -> str:
    return "dyt" + secrets.token_hex(2)


@pytest.fixture
def network(runtime_paths, prefix):
    """A NetworkManager with a private prefix; everything it made is gone afterwards."""
    before = host_network_state(prefix)
    forward = IP_FORWARD.read_text()
    forward6 = IP6_FORWARD.read_text()
    manager = NetworkManager(runtime_paths, prefix=prefix)
    try:
        yield manager
    finally:
        try:
            manager.teardown()
        finally:
            IP_FORWARD.write_text(forward)
            if IP6_FORWARD.read_text() != forward6:
                IP6_FORWARD.write_text(forward6)
    assert host_network_state(prefix) == before


def wait_listening(pid: int, port: int, timeout: float = 5) -> None:
    """Until the process's namespace has a TCP socket listening on `port` (v4 or v6)."""
    deadline = time.monotonic() + timeout
    wanted = f":{port:04X}"
    while time.monotonic() < deadline:
        for table in ("tcp", "tcp6"):
            try:
                rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            # Columns: sl, local address (hex ip:port), remote address, state (0A: listen).
            fields = [row.split() for row in rows]
            if any(f[1].endswith(wanted) and f[3] == "0A" for f in fields):
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


@contextmanager
def serving(ns_path: str, text: str, port: int = 80):
    """busybox httpd inside the namespace, answering `text` on /."""
    with tempfile.TemporaryDirectory() as www:
        Path(www, "index.html").write_text(text)
        proc = subprocess.Popen(
            ["nsenter", f"--net={ns_path}", BUSYBOX, "httpd", "-f", "-p", str(port), "-h", www]
        )
        try:
            wait_listening(proc.pid, port)
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
