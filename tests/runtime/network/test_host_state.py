"""The tests' host-state check sees what Dockyard could have made, and nothing of other tools."""

import json
import secrets
import socket
import subprocess

import pytest
from pyroute2 import IPRoute

from runtime.network import links
from tests.runtime.network.conftest import host_network_state

pytestmark = pytest.mark.privileged


def _nft(document: dict) -> None:
    subprocess.run(["nft", "-j", "-f", "-"], input=json.dumps(document), text=True, check=True)


def test_other_tools_rules_links_and_counters_do_not_count(prefix):
    other = "dko" + secrets.token_hex(2)  # what Docker or Podman would make
    table = {"family": "ip", "name": other}
    chain = {"family": "ip", "table": other, "name": "out", "type": "filter", "hook": "output"}
    rule = {"family": "ip", "table": other, "chain": "out", "expr": [{"counter": None}]}
    before = host_network_state(prefix)
    try:
        _nft(
            {
                "nftables": [
                    {"add": {"table": table}},
                    {"add": {"chain": {**chain, "prio": 0, "policy": "accept"}}},
                    {"add": {"rule": rule}},
                ]
            }
        )
        with IPRoute() as ipr:
            ipr.link("add", ifname=f"{other}br", kind="bridge")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"moves the counter", ("127.0.0.1", 9))
        assert host_network_state(prefix) == before
    finally:
        links.delete_link(f"{other}br")
        _nft({"nftables": [{"add": {"table": table}}, {"delete": {"table": table}}]})


def test_a_link_or_table_of_the_prefix_left_behind_is_seen(prefix):
    before = host_network_state(prefix)
    table = {"family": "ip6", "name": prefix}
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=f"{prefix}b1", kind="bridge")
        _nft({"nftables": [{"add": {"table": table}}]})
        after = host_network_state(prefix)
        assert after["links"] == [f"{prefix}b1"]
        assert after["nft"] == [
            {
                "table": {
                    "family": "ip6",
                    "name": prefix,
                    "handle": after["nft"][0]["table"]["handle"],
                }
            }
        ]
        assert after != before
    finally:
        links.delete_link(f"{prefix}b1")
        _nft({"nftables": [{"add": {"table": table}}, {"delete": {"table": table}}]})
    assert host_network_state(prefix) == before
