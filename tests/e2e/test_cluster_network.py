"""A user network spanning two nodes of a simulated cluster (each node in a network namespace
of its own): containers placed on different nodes reach each other by name over VXLAN."""

import json
import os
import shutil
import time

import pytest

from dockyard.simulated_nodes import simulated_cluster
from runtime.network import links
from tests.runtime.overlay.dfping import df_ping

pytestmark = [pytest.mark.e2e, pytest.mark.privileged, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0 or not shutil.which("docker") or not shutil.which("nsenter"):
        pytest.skip("needs root, the docker CLI and nsenter")
    with simulated_cluster(2) as running:
        for node in running.nodes:
            node.start(running.url, running.join_token())
            node.wait_running()
        yield running


def ok(cluster, *args, timeout=120) -> str:
    done = cluster.control.docker(*args, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def tunnels(node) -> list[str]:
    with links.in_netns(links.netns_path(node.netns)) as ipr:
        names = [link.get("ifname") or "" for link in ipr.get_links()]
    return [name for name in names if name.startswith(node.prefix + "x")]


def test_containers_on_two_nodes_reach_each_other_by_name(cluster):
    first, second = cluster.nodes
    ok(cluster, "network", "create", "spanned")
    names = []
    try:
        for name, node in (("alpha", first), ("beta", second)):
            ok(cluster, "run", "-d", "--name", name, "--network", "spanned",
               "--label", f"dockyard.node={node.name}", "busybox", "sleep", "600")  # fmt: skip
            names.append(name)
        inspected = json.loads(ok(cluster, "inspect", "alpha", "beta"))
        assert [c["Node"]["Name"] for c in inspected] == [first.name, second.name]
        alpha_ip, beta_ip = (
            c["NetworkSettings"]["Networks"]["spanned"]["IPAddress"] for c in inspected
        )
        # One address space across the nodes.
        assert alpha_ip and beta_ip and alpha_ip != beta_ip

        assert "1 packets received" in ok(cluster, "exec", "alpha", "ping", "-c1", "-W3", "beta")
        assert "1 packets received" in ok(cluster, "exec", "beta", "ping", "-c1", "-W3", "alpha")
        assert ok(cluster, "exec", "alpha", "cat", "/sys/class/net/eth0/mtu") == "1450"
        # 1400 bytes with Don't Fragment: the tunnel's 50 bytes still fit the nodes' link.
        alpha_ns = links.netns_path(f"{first.prefix}-{inspected[0]['Id'][:12]}")
        assert df_ping(alpha_ns, beta_ip, 1400)

        # The control plane's own node takes part too.
        control = cluster.control.env["DOCKYARD_NODE"]
        ok(cluster, "run", "-d", "--name", "delta", "--network", "spanned",
           "--label", f"dockyard.node={control}", "busybox", "sleep", "600")  # fmt: skip
        names.append("delta")
        assert "1 packets received" in ok(cluster, "exec", "delta", "ping", "-c1", "-W3", "alpha")
        assert "1 packets received" in ok(cluster, "exec", "beta", "ping", "-c1", "-W3", "delta")

        # Connected while it runs on the second node, then disconnected.
        ok(cluster, "run", "-d", "--name", "gamma", "--label", f"dockyard.node={second.name}",
           "busybox", "sleep", "600")  # fmt: skip
        names.append("gamma")
        ok(cluster, "network", "connect", "spanned", "gamma")
        assert "1 packets received" in ok(cluster, "exec", "alpha", "ping", "-c1", "-W3", "gamma")
        assert "1 packets received" in ok(cluster, "exec", "gamma", "ping", "-c1", "-W3", "alpha")
        ok(cluster, "network", "disconnect", "spanned", "gamma")
        assert "gamma" not in ok(cluster, "exec", "alpha", "cat", "/etc/hosts")

        # One that ends by itself on one node leaves the other node's hosts files.
        ok(cluster, "run", "-d", "--name", "epsilon", "--network", "spanned",
           "--label", f"dockyard.node={second.name}", "busybox", "sleep", "3")  # fmt: skip
        names.append("epsilon")
        assert "epsilon" in ok(cluster, "exec", "alpha", "cat", "/etc/hosts")
        assert ok(cluster, "wait", "epsilon") == "0"
        deadline = time.monotonic() + 15
        while "epsilon" in ok(cluster, "exec", "alpha", "cat", "/etc/hosts"):
            assert time.monotonic() < deadline, "an ended container is still in the hosts file"
            time.sleep(0.2)

        # A container leaving on one node leaves the other node's hosts files.
        ok(cluster, "rm", "-f", "beta")
        names.remove("beta")
        assert "beta" not in ok(cluster, "exec", "alpha", "cat", "/etc/hosts")
    finally:
        if names:
            cluster.control.docker("rm", "-f", *names)
        removed = cluster.control.docker("network", "rm", "spanned")
    assert removed.returncode == 0, removed.stderr
    assert tunnels(first) == [] and tunnels(second) == []
    assert links.links_with_prefix(cluster.control.env["DOCKYARD_NETWORK_PREFIX"] + "x") == []
