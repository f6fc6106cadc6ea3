"""Joining: the addresses a joined node and the control plane's own node tunnel from."""

import pytest

from engine.models import Node
from engine.nodes import local_node
from engine.services import nodes, nodes_credentials


@pytest.fixture(autouse=True)
def credentials(db, monkeypatch):
    # Granting makes a database role and a Redis user, which these tests are not about.
    monkeypatch.setattr(
        nodes_credentials,
        "grant",
        lambda name, host: nodes_credentials.Credentials(database_url="", redis_url=""),
    )


def _join(name: str, advertised: str, reached_at: str) -> Node:
    info = {"stream_address": f"tcp://{advertised}:7001"}
    nodes.do_join(nodes.do_issue_join_token(), name, info, "control:8000", reached_at)
    return Node.objects.get(name=name)


def test_the_control_plane_tunnels_from_where_the_first_node_reached_it():
    assert _join("n1", "10.9.0.11", "10.9.0.1").tunnel_address == "10.9.0.11"
    assert local_node().tunnel_address == "10.9.0.1"
    # The first address stays: the nodes that joined through it tunnel to it.
    _join("n2", "10.9.0.12", "192.0.2.1")
    assert local_node().tunnel_address == "10.9.0.1"


@pytest.mark.parametrize("reached_at", ["127.0.0.1", "::1", "2001:db8::1", "unknown", ""])
def test_an_address_other_hosts_cannot_tunnel_to_is_not_taken(reached_at):
    _join("n1", "10.9.0.11", reached_at)
    assert local_node().tunnel_address == ""


def test_a_node_advertising_ipv6_only_has_no_tunnel_address():
    assert _join("n1", "[2001:db8::5]", "10.9.0.1").tunnel_address == ""
