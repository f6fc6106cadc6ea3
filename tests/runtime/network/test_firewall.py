import ipaddress
import json

from runtime.network.firewall import BridgeRules, Firewall, Forward
from runtime.network.subnets import pick_free


def _rules(ruleset, chain):
    return [
        json.dumps(c["add"]["rule"]["expr"])
        for c in ruleset
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def test_published_ports_are_dnat_rules_for_local_destinations():
    ruleset = Firewall("dyx").ruleset(
        [BridgeRules("dyx0", "172.17.0.0/16", False)],
        [Forward("0.0.0.0", 8080, "tcp", "172.17.0.2", 80)],
    )
    (publish,) = _rules(ruleset, "publish")
    assert '"dport"}}, "right": 8080' in publish
    assert '{"dnat": {"addr": "172.17.0.2", "port": 80}}' in publish
    assert any('"jump": {"target": "publish"}' in r for r in _rules(ruleset, "output"))


def test_networks_are_isolated_and_internal_ones_have_no_egress():
    ruleset = Firewall("dyx").ruleset(
        [
            BridgeRules("dyx0", "172.17.0.0/16", False),
            BridgeRules("dyxb1", "172.18.0.0/16", True),
        ],
        [],
    )
    forward = _rules(ruleset, "forward")
    assert any('{"set": ["dyx0", "dyxb1"]}' in r and '"drop"' in r for r in forward)
    masquerades = [r for r in _rules(ruleset, "postrouting") if '"!="' in r]
    assert len(masquerades) == 1 and "172.17.0.0" in masquerades[0]


def test_a_taken_subnet_is_skipped():
    taken = [ipaddress.IPv4Network("172.17.0.0/16"), ipaddress.IPv4Network("172.16.0.0/12")]
    assert str(pick_free(taken)) == "10.0.0.0/16"
    assert str(pick_free([ipaddress.IPv4Network("172.17.5.0/24")])) == "172.18.0.0/16"


def test_loopback_is_closed_to_the_bridges_but_for_replies_and_dnat():
    ruleset = Firewall("dyx").ruleset(
        [
            BridgeRules("dyx0", "172.17.0.0/16", False),
            BridgeRules("dyxb1", "172.18.0.0/16", True),
        ],
        [],
    )
    (chain,) = [
        c["add"]["chain"]
        for c in ruleset
        if "chain" in c.get("add", {}) and c["add"]["chain"]["name"] == "localnet"
    ]
    # After NAT (-100): the reply of a masqueraded loopback client is 127.0.0.1 again here.
    assert (chain["hook"], chain["type"], chain["prio"]) == ("prerouting", "filter", 0)
    spoofed, replies, dnat, rest = _rules(ruleset, "localnet")
    for rule in (spoofed, replies, dnat, rest):
        assert '{"set": ["dyx0", "dyxb1"]}' in rule
    assert '"saddr"' in spoofed and '"127.0.0.0"' in spoofed and spoofed.endswith('{"drop": null}]')
    assert '["established", "related"]' in replies and replies.endswith('{"accept": null}]')
    assert '"status"' in dnat and '"dnat"' in dnat and dnat.endswith('{"accept": null}]')
    assert '"daddr"' in rest and '"127.0.0.0"' in rest and rest.endswith('{"drop": null}]')


def test_ipv6_has_a_table_of_its_own_with_nat_and_ports_but_never_for_loopback():
    ruleset = Firewall("dyx").ruleset(
        [BridgeRules("dyxb1", "172.18.0.0/16", False, "fd12:3456:789a::/64")],
        [
            Forward("0.0.0.0", 8080, "tcp", "172.18.0.2", 80),
            Forward("::", 8080, "tcp", "fd12:3456:789a::2", 80),
        ],
    )
    tables = [c["add"]["table"]["family"] for c in ruleset if "table" in c.get("add", {})]
    assert sorted(set(tables)) == ["ip", "ip6"]
    v6 = [
        json.dumps(c["add"]["rule"])
        for c in ruleset
        if "rule" in c.get("add", {}) and c["add"]["rule"]["family"] == "ip6"
    ]
    (publish,) = [r for r in v6 if '"chain": "publish"' in r]
    assert '{"dnat": {"addr": "fd12:3456:789a::2", "port": 80}}' in publish
    (output,) = [r for r in v6 if '"chain": "output"' in r]
    # A DNAT of [::1] would be dropped: that port is the proxy's.
    assert '"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}' in output
    assert '"right": "::1"' in output
    masquerades = [r for r in v6 if '"masquerade"' in r and '"!="' in r]
    assert len(masquerades) == 1 and "fd12:3456:789a::" in masquerades[0]
    assert not any("localnet" in r for r in v6)
