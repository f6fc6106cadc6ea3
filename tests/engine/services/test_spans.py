"""Spanning networks' control-plane side: VNIs, addresses decided in the database, and what
each node is told (the node calls are captured: their runtime side has its own tests)."""

import pytest
from django.utils import timezone

from engine.models import Container, Network, NetworkAttachment, Node
from engine.services.networks import spans

NET_ID = "e" * 64


@pytest.fixture
def cluster(db):
    now = timezone.now()
    a = Node.objects.create(name="a", joined=True, last_seen=now, tunnel_address="10.9.0.11")
    b = Node.objects.create(name="b", joined=True, last_seen=now, tunnel_address="10.9.0.12")
    control = Node.objects.create(name="control")
    net = Network.objects.create(
        id=NET_ID, name="span", node=control, subnet="10.1.0.0/29", gateway="10.1.0.1",
        created=now, vni=4096,
    )  # fmt: skip
    return a, b, control, net


def _container(node, name, net, ip="", status="running", asked=""):
    c = Container.objects.create(
        id=name * 32, name=name, node=node, image_id="sha256:x", image_ref="busybox",
        config={"Hostname": name + "-host"}, host_config={"NetworkMode": net.name},
        created=timezone.now(), status=status,
    )  # fmt: skip
    NetworkAttachment.objects.create(
        container=c, network=net, ip=ip, requested_ip=asked, aliases=[f"{name}-alias"]
    )
    return c


def test_vnis_are_handed_out_in_turn(cluster):
    *_, control, _ = cluster
    other = Network.objects.create(
        id="d" * 64, name="other", node=control, subnet="10.2.0.0/24", gateway="10.2.0.1",
        created=timezone.now(),
    )  # fmt: skip
    spans.give_vni(other)
    assert Network.objects.get(id=other.id).vni == 4097


def test_addresses_are_unique_across_nodes(cluster):
    a, b, _, net = cluster
    _container(a, "a1", net, ip="10.1.0.2")
    _container(b, "b1", net, asked="10.1.0.3")
    c = _container(b, "b2", net)
    spans.reserve_addresses(c)
    assert c.attachments.get().ip == "10.1.0.4"
    # A reserved address is kept for the next start.
    spans.reserve_addresses(c)
    assert c.attachments.get().ip == "10.1.0.4"


def test_a_full_network_refuses_another_address(cluster):
    a, _, _, net = cluster
    for i, last in enumerate(range(2, 7)):
        _container(a, f"f{i}", net, ip=f"10.1.0.{last}")
    c = _container(a, "full", net)
    with pytest.raises(spans.Conflict, match="no available IPv4 addresses"):
        spans.reserve_addresses(c)


def test_each_node_learns_the_other_nodes_and_their_containers(cluster, monkeypatch):
    a, b, _, net = cluster
    _container(a, "a1", net, ip="10.1.0.2")
    _container(b, "b1", net, ip="10.1.0.3")
    _container(b, "gone", net, ip="10.1.0.4", status="exited")
    calls = {}
    monkeypatch.setattr(
        spans, "run_on_node", lambda node, task, *args: calls.update({node.name: args})
    )
    spans.sync(net)
    config, local, peers, remote = calls["a"]
    assert config["vni"] == 4096 and config["subnet"] == "10.1.0.0/29"
    assert (local, peers) == ("10.9.0.11", ["10.9.0.12"])
    assert remote == [["b1-host b1 b1-alias", "10.1.0.3"]]
    assert calls["b"][1:] == ("10.9.0.12", ["10.9.0.11"], [["a1-host a1 a1-alias", "10.1.0.2"]])
    # The control plane's node runs none of them: it is not asked.
    assert set(calls) == {"a", "b"}


def test_the_monitor_syncs_a_network_only_when_its_nodes_were_told_otherwise(cluster, monkeypatch):
    a, b, _, net = cluster
    _container(a, "a1", net, ip="10.1.0.2")
    b1 = _container(b, "b1", net, ip="10.1.0.3")
    told = []
    monkeypatch.setattr(spans, "run_on_node", lambda node, task, *args: told.append(node.name))
    assert spans.resync_changed() == ["span"]
    assert sorted(told) == ["a", "b"]
    told.clear()
    assert spans.resync_changed() == [] and told == []
    # b1 ended by itself on its node: a is told, without b1 in its hosts.
    Container.objects.filter(id=b1.id).update(status="exited")
    assert spans.resync_changed() == ["span"]
    assert told == ["a"]
    told.clear()
    # A start that told the nodes itself leaves the monitor nothing to do.
    Container.objects.filter(id=b1.id).update(status="running")
    spans.announce(b1)
    told.clear()
    assert spans.resync_changed() == [] and told == []
