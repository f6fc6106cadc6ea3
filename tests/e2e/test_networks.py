"""Docker's networking through the real docker CLI: ports, user networks, modes, cleanup."""

import contextlib
import http.client
import ipaddress
import json
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from dockyard.ephemeral import ephemeral_platform, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


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


def test_a_published_port_answers_on_loopback_and_on_the_hosts_address(platform):
    port = free_port()
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(platform, c, "-p", f"{port}:80")
        cid = ok(platform.docker("inspect", "-f", "{{.Id}}", c)).strip()
        assert get("127.0.0.1", port) == cid[:12] + "\n"
        assert get(host_address(prefix_of(platform)), port) == cid[:12] + "\n"

        assert ok(platform.docker("port", c)).strip() == f"80/tcp -> 0.0.0.0:{port}"
        assert f"0.0.0.0:{port}->80/tcp" in ok(platform.docker("ps", "--filter", f"name={c}"))
        info = json.loads(ok(platform.docker("inspect", c)))[0]
        assert info["HostConfig"]["PortBindings"] == {
            "80/tcp": [{"HostIp": "", "HostPort": str(port)}]
        }
        assert info["NetworkSettings"]["Ports"] == {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
        }
        assert info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]

        clash = platform.docker("run", "-d", "-p", f"{port}:80", "busybox", "sleep", "5")
        assert clash.returncode != 0 and "already" in clash.stderr
        made.extend(platform.docker("ps", "-aq", "--filter", "status=created").stdout.split())


def test_publish_all_maps_exposed_ports_to_random_host_ports_on_chosen_addresses(platform):
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(
            platform, c, "--expose", "80", "--expose", "53/udp", "-P", "-p", "127.0.0.1::8080"
        )
        lines = ok(platform.docker("port", c)).splitlines()
        ports = dict(line.split(" -> ") for line in lines)
        assert set(ports) == {"80/tcp", "53/udp", "8080/tcp"}
        assert ports["8080/tcp"].startswith("127.0.0.1:")
        web_port = int(ports["80/tcp"].rsplit(":", 1)[1])
        assert web_port > 0 and get("127.0.0.1", web_port)


def test_containers_on_a_user_network_reach_each_other_by_name_and_alias(platform):
    with networks(platform) as nets, containers(platform) as made:
        app = name()
        nets.append(app)
        ok(platform.docker("network", "create", "--subnet", "10.231.7.0/24", app))
        db = name()
        made.append(db)
        ok(
            platform.docker(
                "run",
                "-d",
                "--network",
                app,
                "--name",
                db,
                "--network-alias",
                "pg",
                "--ip",
                "10.231.7.77",
                "busybox",
                "sleep",
                "300",
            )
        )
        assert (
            ok(
                platform.docker(
                    "run", "--rm", "--network", app, "busybox", "ping", "-c1", "-W2", db
                )
            ).count("1 packets received")
            == 1
        )
        assert "10.231.7.77" in ok(
            platform.docker("run", "--rm", "--network", app, "busybox", "ping", "-c1", "-W2", "pg")
        )

        from_default = platform.docker("run", "--rm", "busybox", "ping", "-c1", "-W1", db)
        assert from_default.returncode != 0

        inspected = json.loads(ok(platform.docker("network", "inspect", app)))[0]
        assert inspected["IPAM"]["Config"] == [{"Subnet": "10.231.7.0/24", "Gateway": "10.231.7.1"}]
        members = {m["Name"]: m["IPv4Address"] for m in inspected["Containers"].values()}
        assert members == {db: "10.231.7.77/24"}


def test_user_networks_are_isolated_from_each_other(platform):
    with networks(platform) as nets, containers(platform) as made:
        one, two = name(), name()
        nets.extend([one, two])
        ok(platform.docker("network", "create", one))
        ok(platform.docker("network", "create", two))
        target = name()
        made.append(target)
        ok(
            platform.docker(
                "run", "-d", "--network", one, "--name", target, "busybox", "sleep", "300"
            )
        )
        ip = ok(
            platform.docker(
                "inspect", "-f", f"{{{{.NetworkSettings.Networks.{one}.IPAddress}}}}", target
            )
        ).strip()
        assert ip
        same = platform.docker("run", "--rm", "--network", one, "busybox", "ping", "-c1", "-W2", ip)
        assert same.returncode == 0, same.stdout + same.stderr
        other = platform.docker(
            "run", "--rm", "--network", two, "busybox", "ping", "-c1", "-W1", ip
        )
        assert other.returncode != 0


def test_connect_and_disconnect_a_running_container(platform):
    with networks(platform) as nets, containers(platform) as made:
        app = name()
        nets.append(app)
        ok(platform.docker("network", "create", app))
        c = name()
        made.append(c)
        ok(platform.docker("run", "-d", "--name", c, "busybox", "sleep", "300"))
        ok(platform.docker("network", "connect", "--alias", "svc", app, c))
        assert "eth1" in ok(platform.docker("exec", c, "ip", "-o", "link"))
        reached = platform.docker(
            "run", "--rm", "--network", app, "busybox", "ping", "-c1", "-W2", "svc"
        )
        assert reached.returncode == 0, reached.stdout + reached.stderr

        busy = platform.docker("network", "rm", app)
        assert busy.returncode != 0 and "active endpoints" in busy.stderr

        ok(platform.docker("network", "disconnect", app, c))
        assert "eth1" not in ok(platform.docker("exec", c, "ip", "-o", "link"))
        networks_of = ok(platform.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", c))
        assert list(json.loads(networks_of)) == ["bridge"]


def test_no_network_takes_the_hosts_loopback_or_a_pool_already_taken(platform):
    """Docker's words, which the CLI prints as they are; even the node's administrator."""
    loopback = platform.docker("network", "create", "--subnet", "127.0.0.0/24", name())
    assert loopback.returncode != 0
    assert "Pool overlaps with other one on this address space" in loopback.stderr
    with networks(platform) as nets:
        first = name()
        nets.append(first)
        ok(platform.docker("network", "create", "--subnet", "10.231.9.0/24", first))
        clash = platform.docker("network", "create", "--subnet", "10.231.9.128/25", name())
        assert clash.returncode != 0
        assert "Pool overlaps with other one on this address space" in clash.stderr


def test_network_ls_rm_and_prune(platform):
    keep, drop = name(), name()
    ok(platform.docker("network", "create", "--label", "team=web", keep))
    ok(platform.docker("network", "create", drop))
    try:
        listed = ok(platform.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}"))
        assert {"bridge bridge", "host host", "none null", f"{keep} bridge"} <= set(
            listed.splitlines()
        )
        labelled = ok(platform.docker("network", "ls", "-q", "--filter", "label=team=web"))
        assert len(labelled.split()) == 1
        ok(platform.docker("network", "rm", drop))
        assert drop not in ok(platform.docker("network", "ls"))
        pruned = ok(platform.docker("network", "prune", "-f"))
        assert keep in pruned
        assert keep not in ok(platform.docker("network", "ls"))
        refused = platform.docker("network", "rm", "bridge")
        assert refused.returncode != 0 and "pre-defined" in refused.stderr
        missing = platform.docker("run", "--rm", "--network", "nosuchnet", "busybox", "true")
        assert missing.returncode != 0 and "not found" in missing.stderr
    finally:
        platform.docker("network", "rm", keep, drop)


def test_host_none_and_container_modes_and_etc_options(platform):
    none = ok(platform.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"))
    assert [line.split(":")[1].strip() for line in none.splitlines()] == ["lo"]

    host_links = ok(
        platform.docker("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    )
    with IPRoute() as ipr:
        ours = {link.get("ifname") for link in ipr.get_links()}
    assert {
        line.split(":")[1].strip().split("@")[0] for line in host_links.splitlines()
    } & ours >= {"lo"}
    assert len(host_links.splitlines()) > 1

    with containers(platform) as made:
        owner = name()
        made.append(owner)
        ok(platform.docker("run", "-d", "--name", owner, "busybox", "sleep", "300"))
        own_ip = ok(
            platform.docker("exec", owner, "ip", "-4", "-o", "addr", "show", "eth0")
        ).split()[3]
        joined = ok(
            platform.docker(
                "run",
                "--rm",
                "--network",
                f"container:{owner}",
                "busybox",
                "ip",
                "-4",
                "-o",
                "addr",
                "show",
                "eth0",
            )
        )
        assert joined.split()[3] == own_ip

    etc = ok(
        platform.docker(
            "run",
            "--rm",
            "--hostname",
            "box",
            "--add-host",
            "db.local:10.9.8.7",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hosts /etc/resolv.conf",
        )
    )
    assert etc.startswith("box\n")
    assert "10.9.8.7\tdb.local" in etc
    assert "nameserver 192.0.2.53" in etc and "search example.test" in etc


def test_fifty_containers_come_and_go_without_leaving_network_state(platform):
    prefix = prefix_of(platform)
    ok(platform.docker("run", "--rm", "busybox", "true"))
    before = own_state(prefix)
    ids = []
    try:
        for _ in range(50):
            ids.append(
                ok(platform.docker("run", "-d", "-p", "80", "busybox", "sleep", "300")).strip()
            )
    finally:
        if ids:
            ok(platform.docker("rm", "-f", *ids))
    assert own_state(prefix) == before


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


def test_the_agent_restores_rules_and_removes_orphans_at_start(platform):
    prefix = prefix_of(platform)
    port = free_port()
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(platform, c, "-p", f"{port}:80")
        assert get("127.0.0.1", port)
        subprocess.run(["nft", "delete", "table", "ip", prefix], check=True)
        assert get("127.0.0.1", port, wait=0) is None
        orphan = f"/run/netns/{prefix}-{secrets.token_hex(6)}"
        subprocess.run(["ip", "netns", "add", Path(orphan).name], check=True)
        platform.manage(
            "shell",
            "-c",
            "from engine.agent.service import reconcile; from engine.nodes import local_node; "
            "reconcile(local_node())",
        )
        assert get("127.0.0.1", port)
        assert not os.path.exists(orphan)


def test_the_host_network_is_as_found_after_a_platform_stops(tmp_path):
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    run = Path(tempfile.mkdtemp(prefix="dyn", dir="/tmp"))
    try:
        with ephemeral_platform(tmp_path / "root", run) as p:
            ok(p.docker("network", "create", "scratch"))
            ok(p.docker("network", "create", "--ipv6", "--subnet", "fd5e:7c1a:9::/64", "dual"))
            ok(p.docker("run", "-d", "--network", "scratch", "-p", "80", "busybox", "sleep", "300"))
            ok(p.docker("run", "-d", "--network", "dual", "-p", "80", "busybox", "sleep", "300"))
            ok(p.docker("run", "-d", "-p", "80", "busybox", "sleep", "300"))
            prefix = p.env["DOCKYARD_NETWORK_PREFIX"]
            assert own_state(prefix)["netns"] and own_state(prefix)["nft"]
            assert proxies(prefix)
            leftovers = p.docker("ps", "-aq").stdout.split()
            p.docker("rm", "-f", *leftovers)
    finally:
        subprocess.run(["rm", "-rf", str(run)], check=False)
    assert own_state(prefix) == {"links": [], "addrs": [], "routes": [], "netns": [], "nft": []}
    assert proxies(prefix) == []
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward


@pytest.mark.slow
def test_apt_get_installs_from_the_hosts_debian_mirror(platform):
    platform.manage("import_base_images", "debian:bookworm", timeout=1800)
    out = platform.docker(
        "run",
        "--rm",
        "debian:bookworm",
        "sh",
        "-c",
        "apt-get update -q && apt-get install -y -q hello && hello",
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Hello, world!" in out.stdout
