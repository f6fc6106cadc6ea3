"""User networks through the real docker CLI: names and aliases, isolation, connect and
disconnect, address pools, ls, rm and prune."""

import json

import pytest

from tests.e2e.networking import (
    containers,
    name,
    networks,
    ok,
)

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


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
