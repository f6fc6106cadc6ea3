"""CVE-2020-8558: a container reaching the host's loopback through its bridge.

The bridges set route_localnet so that a published port answers on 127.0.0.1, which also makes
the host's kernel accept 127.0.0.0/8 arriving on a bridge. The attacker here has its own
network namespace to itself: it routes 127.0.0.0/8 to its gateway (a container with only
CAP_NET_RAW sends the same frames from a raw socket) and knocks on the host's loopback-only
services, or passes for one of the host's own loopback clients. The host plays itself; every
packet stays on its loopback and on the test's own bridge and namespaces.
"""

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtime.network import PortBinding, links
from tests.e2e.networking import get
from tests.runtime.network.conftest import in_netns, pings, serving

pytestmark = pytest.mark.privileged

ATTACKER = "a" * 64
SPOOFER = "b" * 64
WEB = "c" * 64
SECRET = b"a service the host keeps on its loopback"

_CONNECT = """
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2])) as s:
    s.settimeout(float(sys.argv[2]))
    sys.stdout.write(s.recv(100).decode())
"""


@contextmanager
def loopback_service() -> Iterator[int]:
    """A TCP service on the host's 127.0.0.1 that hands out its secret; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(SECRET)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def in_python(
    ns_path: str, code: str, *argv: str, timeout: float = 10
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nsenter", f"--net={ns_path}", sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def steal(ns_path: str, port: int, wait: float = 2) -> str | None:
    """From inside the namespace, connect to 127.0.0.1:port; what the service said, if any."""
    result = in_python(ns_path, _CONNECT, str(port), str(wait), timeout=wait + 10)
    return result.stdout if result.returncode == 0 else None


def allow_localnet(ns_path: str) -> None:
    """The attacker's namespace lets 127.0.0.0/8 through its eth0, as the host's bridge does."""
    result = in_netns(ns_path, "sysctl", "-w", "net.ipv4.conf.eth0.route_localnet=1")
    assert result.returncode == 0, result.stderr


def route_loopback_to_gateway(ns_path: str, gateway: str) -> None:
    """What the attacker does to its own namespace: 127.0.0.0/8 leaves through eth0."""
    with links.in_netns(ns_path) as ns:
        lo = ns.link_lookup(ifname="lo")[0]
        eth0 = ns.link_lookup(ifname="eth0")[0]
        ns.addr("del", index=lo, address="127.0.0.1", prefixlen=8)
        ns.route("add", dst="127.0.0.0/8", gateway=gateway, oif=eth0)
    allow_localnet(ns_path)


def test_cve_2020_8558_a_container_cannot_reach_services_on_the_hosts_loopback(network):
    bridge = network.ensure_default()
    attacker = network.create_netns(ATTACKER)
    network.connect(ATTACKER, "bridge", hostname="attacker")
    web = network.create_netns(WEB)
    network.connect(WEB, "bridge", hostname="web")
    (bound,) = network.publish(WEB, [PortBinding("127.0.0.1", 0, 80, "tcp")])
    route_loopback_to_gateway(attacker, bridge.gateway)

    with loopback_service() as port, serving(web, "published"):
        assert steal(attacker, port) is None
        # The published port still answers on the host's loopback.
        assert get("127.0.0.1", bound.host_port, "/") == "published"

        # Without the table the same packets get the secret: the refusal is ours.
        network.firewall.remove()
        assert steal(attacker, port) == SECRET.decode()
        network.reapply()
        assert steal(attacker, port) is None
        assert get("127.0.0.1", bound.host_port, "/") == "published"


_SPOOF = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    s.sendto(b"from the host's loopback, honest", (sys.argv[1], int(sys.argv[2])))
"""


def test_cve_2020_8558_a_container_cannot_pass_for_the_hosts_loopback(network):
    """A loopback source arriving on a bridge looks local to the host's services (an
    allow-list of 127.0.0.1, a UDP service that trusts it). The kernel refuses it by itself
    unless accept_local is on, as some hosts set it for every link: this bridge has it on."""
    bridge = network.ensure_default()
    spoofer = network.create_netns(SPOOFER)
    network.connect(SPOOFER, "bridge", hostname="spoofer")
    allow_localnet(spoofer)
    Path(f"/proc/sys/net/ipv4/conf/{bridge.bridge}/accept_local").write_text("1")
    # The gateway's MAC is known before the spoofing, whose ARP would carry 127.0.0.1.
    assert pings(spoofer, bridge.gateway)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as service:
        service.bind((bridge.gateway, 0))
        port = service.getsockname()[1]

        def spoofed_source(wait: float = 1) -> str | None:
            sent = in_python(spoofer, _SPOOF, bridge.gateway, str(port))
            assert sent.returncode == 0, sent.stderr
            service.settimeout(wait)
            try:
                return service.recvfrom(100)[1][0]
            except TimeoutError:
                return None

        assert spoofed_source() is None
        network.firewall.remove()
        assert spoofed_source() == "127.0.0.1"
        network.reapply()
        assert spoofed_source() is None
