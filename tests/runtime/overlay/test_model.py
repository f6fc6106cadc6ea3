import json

import pytest

from runtime.errors import InvalidInput
from runtime.network.firewall import BridgeRules, Firewall
from runtime.overlay import Span
from runtime.overlay.model import bridge_mac, overlay_mtu


def test_a_1500_byte_link_leaves_1450_inside_the_tunnel():
    assert overlay_mtu(1500) == 1450


def test_every_node_gives_the_bridge_the_same_unicast_local_mac():
    mac = bridge_mac("a" * 64)
    assert mac == bridge_mac("a" * 64) != bridge_mac("b" * 64)
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


@pytest.mark.parametrize(
    "vni, local, peers",
    [(0, "10.0.0.1", ()), (1 << 24, "10.0.0.1", ()), (7, "x", ()), (7, "10.0.0.1", ("10.0.0.1",))],
)
def test_a_span_refuses_bad_vnis_and_addresses(vni, local, peers):
    with pytest.raises(InvalidInput):
        Span(vni, local, peers)


def _tunnel_rules(ruleset, family):
    return [
        json.dumps(c["add"]["rule"]["expr"])
        for c in ruleset
        if "rule" in c.get("add", {})
        and c["add"]["rule"]["chain"] == "tunnel"
        and c["add"]["rule"]["family"] == family
    ]


def test_vxlan_is_dropped_unless_it_comes_from_a_node():
    bridges = [BridgeRules("dyxb1", "10.9.0.0/24", False)]
    ruleset = Firewall("dyx").ruleset(bridges, [], ["10.1.0.12", "10.1.0.11"])
    from_bridges, v4 = _tunnel_rules(ruleset, "ip")
    assert '{"set": ["dyxb1"]}' in from_bridges
    assert '"right": 4789' in v4 and '"drop"' in v4
    assert '"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}' in v4
    assert '{"set": ["10.1.0.11", "10.1.0.12"]}' in v4
    # Tunnels run over IPv4 only: none comes in over IPv6.
    _, v6 = _tunnel_rules(ruleset, "ip6")
    assert "saddr" not in v6 and '"drop"' in v6


def test_containers_send_no_vxlan_even_where_no_network_spans_nodes():
    ruleset = Firewall("dyx").ruleset([BridgeRules("dyxb1", "10.9.0.0/24", False)], [])
    (v4,) = _tunnel_rules(ruleset, "ip")
    assert '{"set": ["dyxb1"]}' in v4 and '"right": 4789' in v4 and '"drop"' in v4
    assert "saddr" not in v4
    forward = [
        json.dumps(c["add"]["rule"]["expr"])
        for c in ruleset
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == "forward"
    ]
    # First, before any accept of the bridge's outbound traffic.
    assert '"right": 4789' in forward[0] and '"drop"' in forward[0]
