"""The one nftables backend: the whole `ip <prefix>` table, rebuilt from state on every change.

Rules go through nftables' JSON interface (`nft -j -f -`). Each apply is one
transaction that adds, deletes and re-adds the table, so it works whether or not
the table exists (after `nft flush ruleset`, say) and never leaves half a ruleset.
"""

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from runtime.errors import RuntimeFailure

FAMILY = "ip"


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool


@dataclass(frozen=True)
class Forward:
    """A published port: traffic to a local `host_ip:host_port` goes to `ip:port`."""

    host_ip: str
    host_port: int
    proto: str
    ip: str
    port: int


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _ip(field: str) -> dict:
    return {"payload": {"protocol": "ip", "field": field}}


def _prefix(cidr: str) -> dict:
    addr, length = cidr.split("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


class Firewall:
    def __init__(self, table: str):
        self.table = table

    def _chain(self, name: str, hook: str | None = None, kind: str = "", prio: int = 0) -> dict:
        chain = {"family": FAMILY, "table": self.table, "name": name}
        if hook:
            chain.update(type=kind, hook=hook, prio=prio, policy="accept")
        return {"add": {"chain": chain}}

    def _rule(self, chain: str, *expr: dict) -> dict:
        return {
            "add": {"rule": {"family": FAMILY, "table": self.table, "chain": chain, "expr": expr}}
        }

    def ruleset(self, bridges: Iterable[BridgeRules], forwards: Iterable[Forward]) -> list[dict]:
        bridges = list(bridges)
        table = {"table": {"family": FAMILY, "name": self.table}}
        cmds = [
            {"add": table},
            {"delete": table},
            {"add": table},
            self._chain("publish"),
            self._chain("prerouting", "prerouting", "nat", -100),
            self._chain("output", "output", "nat", -100),
            self._chain("postrouting", "postrouting", "nat", 100),
            self._chain("forward", "forward", "filter", 0),
            # After conntrack and NAT (-100), so replies and DNAT show in `ct`.
            self._chain("localnet", "prerouting", "filter", 0),
        ]
        local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
        cmds.append(self._rule("prerouting", local, {"jump": {"target": "publish"}}))
        cmds.append(self._rule("output", local, {"jump": {"target": "publish"}}))
        for fwd in forwards:
            expr = []
            if fwd.host_ip not in ("", "0.0.0.0"):
                expr.append(_match(_ip("daddr"), fwd.host_ip))
            expr += [
                _match({"payload": {"protocol": fwd.proto, "field": "dport"}}, fwd.host_port),
                {"dnat": {"addr": fwd.ip, "port": fwd.port}},
            ]
            cmds.append(self._rule("publish", *expr))

        names = [b.bridge for b in bridges]
        for b in bridges:
            # Loopback clients of published ports (see route_localnet on the bridge).
            cmds.append(
                self._rule(
                    "postrouting",
                    _match(_ip("saddr"), _prefix("127.0.0.0/8")),
                    _match(_meta("oifname"), b.bridge),
                    {"masquerade": None},
                )
            )
            # Hairpin: a container reaching a sibling through a published port.
            cmds.append(
                self._rule(
                    "postrouting",
                    _match(_ip("saddr"), _prefix(b.subnet)),
                    _match(_meta("oifname"), b.bridge),
                    _match({"ct": {"key": "status"}}, "dnat", op="in"),
                    {"masquerade": None},
                )
            )
            if not b.internal:
                cmds.append(
                    self._rule(
                        "postrouting",
                        _match(_ip("saddr"), _prefix(b.subnet)),
                        _match(_meta("oifname"), b.bridge, op="!="),
                        {"masquerade": None},
                    )
                )
            cmds.append(
                self._rule(
                    "forward",
                    _match(_meta("iifname"), b.bridge),
                    _match(_meta("oifname"), b.bridge),
                    {"accept": None},
                )
            )
        if names:
            cmds += self._localnet_guard(names)
        if len(names) > 1:
            # Networks are isolated from each other.
            cmds.append(
                self._rule(
                    "forward",
                    _match(_meta("iifname"), {"set": names}),
                    _match(_meta("oifname"), {"set": names}),
                    {"drop": None},
                )
            )
        for b in bridges:
            outbound = _match(_meta("iifname"), b.bridge)
            inbound = _match(_meta("oifname"), b.bridge)
            if b.internal:
                cmds.append(self._rule("forward", outbound, {"drop": None}))
                cmds.append(self._rule("forward", inbound, {"drop": None}))
                continue
            cmds.append(self._rule("forward", outbound, {"accept": None}))
            for ct_key, value in (("state", ["established", "related"]), ("status", "dnat")):
                match = _match({"ct": {"key": ct_key}}, value, op="in")
                cmds.append(self._rule("forward", inbound, match, {"accept": None}))
            # Only replies and published ports come in from elsewhere.
            cmds.append(self._rule("forward", inbound, {"drop": None}))
        return cmds

    def _localnet_guard(self, bridges: list[str]) -> list[dict]:
        """Keep containers off the host's loopback (CVE-2020-8558).

        The bridges set route_localnet (links.ensure_bridge) so that a published port answers
        on 127.0.0.1; that also makes the kernel accept 127.0.0.0/8 arriving on a bridge. A
        container could then send to 127.0.0.1 through its gateway and reach every service
        the host binds to loopback only. What legitimately comes in for 127/8 is the reply
        half of a loopback client's published-port connection (conntrack turns the masqueraded
        address back into 127.0.0.1 before this chain sees it) or a DNAT someone set on
        purpose. Nothing from a container carries a loopback source either; the kernel takes
        one for its own address and refuses it, but not where accept_local is on (some
        load-balancer and VRF setups turn it on for all links), and then a container would pass
        for the host to services that trust 127.0.0.1.
        """
        from_bridge = _match(_meta("iifname"), {"set": bridges})
        to_loopback = _match(_ip("daddr"), _prefix("127.0.0.0/8"))
        replies = _match({"ct": {"key": "state"}}, ["established", "related"], op="in")
        dnat = _match({"ct": {"key": "status"}}, "dnat", op="in")
        from_loopback = _match(_ip("saddr"), _prefix("127.0.0.0/8"))
        return [
            self._rule("localnet", from_bridge, from_loopback, {"drop": None}),
            self._rule("localnet", from_bridge, to_loopback, replies, {"accept": None}),
            self._rule("localnet", from_bridge, to_loopback, dnat, {"accept": None}),
            self._rule("localnet", from_bridge, to_loopback, {"drop": None}),
        ]

    def apply(self, bridges: Iterable[BridgeRules], forwards: Iterable[Forward]) -> None:
        _run({"nftables": self.ruleset(bridges, forwards)})

    def remove(self) -> None:
        table = {"table": {"family": FAMILY, "name": self.table}}
        _run({"nftables": [{"add": table}, {"delete": table}]})


def _run(document: dict) -> str:
    return _nft("-j", "-f", "-", document=json.dumps(document))


def _nft(*args: str, document: str | None = None) -> str:
    proc = subprocess.run(
        ["nft", *args],
        input=document,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeFailure(f"nftables refused the rules: {proc.stderr.strip()}")
    return proc.stdout
