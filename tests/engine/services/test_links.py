"""Legacy links: who may link to what, and Docker's link variables."""

import pytest
from django.utils import timezone

from accounts.actors import actor_for
from engine.errors import BadRequest, Conflict
from engine.models import Container, Network, NetworkAttachment, Node
from engine.services.containers import do_rename
from engine.services.links import Link, check_links, link_env, link_hosts, links_env, links_of


@pytest.fixture
def node(db):
    node = Node.objects.create(name="n1")
    Network.objects.create(
        id="b" * 64,
        name="bridge",
        node=node,
        builtin=True,
        subnet="172.17.0.0/16",
        gateway="172.17.0.1",
        created=timezone.now(),
    )
    return node


def _container(node, owner, name, status="running", **extra) -> Container:
    c = Container.objects.create(
        id=name.ljust(64, "0")[:64],
        name=name,
        node=node,
        owner=owner,
        image_id="sha256:x",
        image_ref="busybox",
        config={"Hostname": f"{name}-host", "Env": ["PATH=/bin", "HOME=/root", "A=1"], **extra},
        host_config={"NetworkMode": "bridge"},
        created=timezone.now(),
        status=status,
    )
    NetworkAttachment.objects.create(container=c, network_id="b" * 64, ip="172.17.0.9")
    return c


def test_it_links_to_your_own_container_in_dockers_stored_form(node, alice):
    _container(node, alice, "db")
    host = {"NetworkMode": "bridge", "Links": ["db:data", "/db"]}
    assert check_links(actor_for(alice), node, host, "app") == ["/db:/app/data", "/db:/app/db"]


def test_it_refuses_a_link_to_another_users_container_as_if_it_did_not_exist(node, alice, charlie):
    _container(node, alice, "secret")
    host = {"NetworkMode": "bridge", "Links": ["secret:s"]}
    with pytest.raises(BadRequest) as stolen:
        check_links(actor_for(charlie), node, host, "probe")
    with pytest.raises(BadRequest) as missing:
        check_links(actor_for(charlie), node, {**host, "Links": ["nothing:s"]}, "probe")
    assert str(stolen.value.message).replace("secret", "X") == str(missing.value.message).replace(
        "nothing", "X"
    )


def test_a_link_made_earlier_does_not_reach_a_container_that_changed_hands(node, alice, charlie):
    # charlie linked to his own "shared"; it was removed and alice made one of that name.
    linker = _container(node, charlie, "linker", status="created")
    linker.host_config["Links"] = ["/shared:/linker/s"]
    _container(node, alice, "shared")
    with pytest.raises(Conflict, match="non running container"):
        links_of(linker)


@pytest.mark.parametrize(
    "mode, links, error",
    [
        ("host", ["db"], "host type networking"),
        ("container:db", ["db"], "container type network"),
        ("bridge", ["a:b:c"], "invalid link format"),
        ("bridge", [":x"], "invalid link format"),
    ],
)
def test_impossible_links_are_refused(node, alice, mode, links, error):
    _container(node, alice, "db")
    with pytest.raises(BadRequest, match=error):
        check_links(actor_for(alice), node, {"NetworkMode": mode, "Links": links}, "app")


def test_variables_follow_dockers_names_order_and_ranges(node, alice):
    target = _container(
        node,
        alice,
        "web",
        ExposedPorts={"8081/tcp": {}, "53/udp": {}, "8080/tcp": {}, "80/tcp": {}},
    )
    link = Link(target=target, name="/app/my-web", alias="my-web", address="172.17.0.9")
    env = link_env(link)
    ip = "172.17.0.9"
    assert env[0] == f"MY_WEB_PORT=tcp://{ip}:80"
    assert env[1:5] == [
        f"MY_WEB_PORT_80_TCP=tcp://{ip}:80",
        f"MY_WEB_PORT_80_TCP_ADDR={ip}",
        "MY_WEB_PORT_80_TCP_PORT=80",
        "MY_WEB_PORT_80_TCP_PROTO=tcp",
    ]
    assert f"MY_WEB_PORT_8080_TCP_START=tcp://{ip}:8080" in env
    assert f"MY_WEB_PORT_8080_TCP_END=tcp://{ip}:8081" in env
    assert "MY_WEB_PORT_8080_TCP_PORT_START=8080" in env
    assert "MY_WEB_PORT_8080_TCP_PORT_END=8081" in env
    assert f"MY_WEB_PORT_53_UDP=udp://{ip}:53" in env
    assert not any("_80_TCP_START" in e or "_53_UDP_START" in e for e in env)
    assert env[-2:] == ["MY_WEB_NAME=/app/my-web", "MY_WEB_ENV_A=1"]
    assert link_hosts([link]) == [["my-web web-host web", ip]]


def test_link_variables_are_set_only_on_the_default_bridge(node, alice):
    target = _container(node, alice, "db")
    app = _container(node, alice, "app")
    link = Link(target=target, name="/app/db", alias="db", address="172.17.0.9")
    assert "DB_NAME=/app/db" in links_env(app, [link])
    app.attachments.all().delete()
    assert links_env(app, [link]) == []


def test_links_to_and_from_a_renamed_container_follow_it(node, alice):
    db = _container(node, alice, "db")
    app = _container(node, alice, "app")
    app.host_config["Links"] = ["/db:/app/data"]
    app.save()
    db.host_config["Links"] = ["/app:/db/front"]
    db.save()
    do_rename(db, "store")
    app.refresh_from_db()
    db.refresh_from_db()
    assert app.host_config["Links"] == ["/store:/app/data"]
    assert db.host_config["Links"] == ["/app:/store/front"]
    assert [link.target.name for link in links_of(app)] == ["store"]
