"""Docker's network options on a create request: modes, endpoints, published ports, /etc."""

import pytest
from django.utils import timezone

from engine.api.render import container_inspect, container_summary
from engine.api.schemas import NetworkingSpec
from engine.errors import BadRequest, NotFound
from engine.models import Container, Network, Node, PublishedPort
from engine.services.access import NODE_ADMIN
from engine.services.networks import (
    choose_networks,
    network_plan,
    port_requests,
    save_attachments,
)


def test_port_bindings_become_runtime_requests():
    host = {
        "PortBindings": {
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            "9000": None,
        }
    }
    assert port_requests(host, None) == [
        {"host_ip": "", "host_port": 8080, "container_port": 80, "proto": "tcp"},
        {"host_ip": "127.0.0.1", "host_port": 0, "container_port": 53, "proto": "udp"},
        {"host_ip": "", "host_port": 0, "container_port": 9000, "proto": "tcp"},
    ]


def test_publish_all_adds_exposed_ports_not_bound_already():
    host = {"PublishAllPorts": True, "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}
    got = port_requests(host, {"80/tcp": {}, "443/tcp": {}})
    assert [(p["container_port"], p["host_port"]) for p in got] == [(80, 8080), (443, 0)]


@pytest.mark.parametrize(
    ("key", "host_port", "message"),
    [
        ("80/sctp", "1", "unsupported protocol"),
        ("x/tcp", "1", "invalid container port"),
        ("80/tcp", "8000-8010", "ranges are not supported"),
        ("80/tcp", "http", "invalid host port"),
    ],
)
def test_bad_port_bindings_are_refused(key, host_port, message):
    with pytest.raises(BadRequest, match=message):
        port_requests({"PortBindings": {key: [{"HostPort": host_port}]}}, None)


@pytest.fixture
def node(db):
    node = Node.objects.create(name="n1")
    for name, driver, subnet in (
        ("bridge", "bridge", "172.17.0.0/16"),
        ("host", "host", ""),
        ("none", "null", ""),
    ):
        Network.objects.create(
            id=name * 4,
            name=name,
            node=node,
            driver=driver,
            builtin=True,
            subnet=subnet,
            gateway="172.17.0.1" if subnet else "",
            created=timezone.now(),
        )
    Network.objects.create(
        id="f" * 64,
        name="app",
        node=node,
        subnet="10.1.0.0/24",
        gateway="10.1.0.1",
        created=timezone.now(),
    )
    return node


def _no_container(actor, ref):
    raise NotFound(f"No such container: {ref}")


def choose(node, mode="", endpoints=None, **host):
    host = {"NetworkMode": mode, **host}
    spec = NetworkingSpec.model_validate({"EndpointsConfig": endpoints}) if endpoints else None
    return choose_networks(NODE_ADMIN, node, host, spec, _no_container), host


def test_no_network_mode_means_the_default_bridge(node):
    choice, host = choose(node, "default", {"default": {}})
    assert host["NetworkMode"] == "bridge"
    assert [a.network.name for a in choice.attachments] == ["bridge"]


def test_a_user_network_takes_aliases_an_address_and_more_networks(node):
    choice, _ = choose(
        node,
        "app",
        {"app": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.1.0.9"}}, "bridge": {}},
    )
    first, second = choice.attachments
    assert (first.network.name, first.aliases, first.ip) == ("app", ["db"], "10.1.0.9")
    assert second.network.name == "bridge"


@pytest.mark.parametrize(
    ("mode", "endpoints", "message"),
    [
        ("bridge", {"bridge": {"Aliases": ["x"]}}, "only for containers in user defined"),
        ("bridge", {"bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}, "user defined"),
        ("app", {"app": {"IPAMConfig": {"IPv4Address": "10.2.0.9"}}}, "not in the subnet"),
        ("nosuch", None, "network nosuch not found"),
        ("container:nosuch", None, "No such container"),
    ],
)
def test_impossible_network_requests_are_refused(node, mode, endpoints, message):
    with pytest.raises((BadRequest, NotFound), match=message):
        choose(node, mode, endpoints)


def test_ports_with_another_containers_network_are_refused(node):
    with pytest.raises(BadRequest, match="conflicting options"):
        choose(node, "container:abc", PortBindings={"80/tcp": [{"HostPort": "1"}]})


def test_host_and_none_modes_have_no_attachments(node):
    for mode in ("host", "none"):
        choice, _ = choose(node, mode)
        assert choice.runtime() == {"mode": mode, "container": ""}
        assert choice.attachments == []


def _container(node, mode="app", **host) -> Container:
    host = {"NetworkMode": mode, **host}
    c = Container.objects.create(
        id="c" * 64,
        name="web",
        node=node,
        image_id="sha256:x",
        image_ref="busybox",
        config={"Hostname": "cccccccccccc", "ExposedPorts": {"80/tcp": {}}},
        host_config=host,
        created=timezone.now(),
        status="running",
    )
    choice, _ = choose(node, mode, {mode: {"Aliases": ["www"]}} if mode == "app" else None)
    save_attachments(c, choice)
    return c


def test_the_start_plan_names_networks_aliases_ports_and_etc_options(node):
    c = _container(
        node,
        ExtraHosts=["gw:host-gateway", "db=10.0.0.5"],
        Dns=["192.0.2.1"],
        PortBindings={"80/tcp": [{"HostPort": "8080"}]},
    )
    plan = network_plan(c)
    assert plan["mode"] == "bridge" and plan["hostname"] == "cccccccccccc"
    assert plan["networks"] == [{"id": "f" * 64, "ip": "", "ip6": "", "aliases": ["web", "www"]}]
    assert plan["extra_hosts"] == [["gw", "10.1.0.1"], ["db", "10.0.0.5"]]
    assert plan["dns"] == ["192.0.2.1"]
    assert plan["ports"][0]["host_port"] == 8080


def test_inspect_and_ps_show_published_and_exposed_ports(node):
    c = _container(node, mode="bridge")
    PublishedPort.objects.create(
        container=c, host_ip="0.0.0.0", host_port=8080, container_port=80, proto="tcp"
    )
    a = c.attachments.get()
    a.ip, a.prefixlen, a.gateway, a.mac = "172.17.0.2", 16, "172.17.0.1", "02:42:ac:11:00:02"
    a.save()
    settings = container_inspect(c)["NetworkSettings"]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert settings["IPAddress"] == "172.17.0.2" and settings["Gateway"] == "172.17.0.1"
    assert container_summary(c)["Ports"] == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}
    ]
    c.status = "exited"
    assert container_inspect(c)["NetworkSettings"]["Ports"] == {}
    assert container_summary(c)["Ports"] == [{"PrivatePort": 80, "Type": "tcp"}]
