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
