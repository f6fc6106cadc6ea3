"""The one nftables backend: the `ip <prefix>` and `ip6 <prefix>` tables, rebuilt from state
on every change.

Rules go through nftables' JSON interface (`nft -j -f -`). Each apply is one
transaction that adds, deletes and re-adds both tables, so it works whether or not
they exist (after `nft flush ruleset`, say) and never leaves half a ruleset. The two
families hold the same isolation rules; NAT, published ports and the loopback guard follow
each family's addresses. IPv6 has no route_localnet: a published port on [::1] cannot be a
DNAT (its replies could not leave loopback), so the ports module proxies it instead.
"""

import functools
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from runtime.errors import RuntimeFailure

FAMILIES = ("ip", "ip6")
# IANA's VXLAN port, on which spanning networks' tunnels (runtime.overlay) listen.
VXLAN_PORT = 4789


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool
    subnet6: str = ""


@dataclass(frozen=True)
class Forward:
    """A published port: traffic to a local `host_ip:host_port` goes to `ip:port`, in the
    family of `ip`; a `host_ip` of 0.0.0.0, :: or "" is any local address."""

    host_ip: str
    host_port: int
    proto: str
    ip: str
    port: int


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _ip(field: str, family: str = "ip") -> dict:
    return {"payload": {"protocol": family, "field": field}}


def _prefix(cidr: str) -> dict:
    addr, length = cidr.split("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


class Firewall:
    def __init__(self, table: str):
        self.table = table

    def _chain(
        self, family: str, name: str, hook: str | None = None, kind: str = "", prio: int = 0
    ) -> dict:
        chain = {"family": family, "table": self.table, "name": name}
        if hook:
            chain.update(type=kind, hook=hook, prio=prio, policy="accept")
        return {"add": {"chain": chain}}

    def _rule(self, chain: str, *expr: dict, family: str = "ip") -> dict:
        return {
            "add": {"rule": {"family": family, "table": self.table, "chain": chain, "expr": expr}}
        }

    def ruleset(
        self,
        bridges: Iterable[BridgeRules],
        forwards: Iterable[Forward],
        tunnel_peers: Iterable[str] | None = None,
    ) -> list[dict]:
        """`tunnel_peers`: the other nodes' addresses while a network spans nodes (None while
        none does)."""
        bridges, forwards = list(bridges), list(forwards)
        v4 = [f for f in forwards if ":" not in f.ip]
        v6 = [f for f in forwards if ":" in f.ip]
        cmds = self._family("ip", bridges, v4) + self._family("ip6", bridges, v6)
        names = [b.bridge for b in bridges]
        if tunnel_peers is not None or names:
            cmds += self._tunnel_guard(names, tunnel_peers)
        return cmds

    @staticmethod
    def _vxlan_from(names: list[str]) -> list[dict]:
        return [
            _match(_meta("iifname"), {"set": names}),
            _match({"meta": {"key": "l4proto"}}, "udp"),
            _match({"payload": {"protocol": "udp", "field": "dport"}}, VXLAN_PORT),
        ]

    def _tunnel_guard(self, names: list[str], peers: Iterable[str] | None) -> list[dict]:
        """VXLAN carries neither encryption nor authentication: a frame that reaches the port
        lands on the network's bridge as if a container there had sent it. Only the cluster's
        nodes may send to it (and tunnels run over IPv4 alone), and no container, not even
        to its own node."""
        cmds = []
        for family in FAMILIES:
            cmds.append(self._chain(family, "tunnel", "input", "filter", 0))
            if names:
                from_bridges = self._vxlan_from(names)
                cmds.append(self._rule("tunnel", *from_bridges, {"drop": None}, family=family))
            if peers is None:
                continue
            vxlan = _match({"payload": {"protocol": "udp", "field": "dport"}}, VXLAN_PORT)
            expr = [vxlan]
            allowed = sorted(set(peers))
            if family == "ip" and allowed:
                expr.append(_match(_ip("saddr"), {"set": allowed}, op="!="))
            cmds.append(self._rule("tunnel", *expr, {"drop": None}, family=family))
        return cmds

    def _family(self, family: str, bridges: list[BridgeRules], forwards: list[Forward]) -> list:
        table = {"table": {"family": family, "name": self.table}}
        cmds = [
            {"add": table},
            {"delete": table},
            {"add": table},
            self._chain(family, "publish"),
            self._chain(family, "prerouting", "prerouting", "nat", -100),
            self._chain(family, "output", "output", "nat", -100),
            self._chain(family, "postrouting", "postrouting", "nat", 100),
            self._chain(family, "forward", "forward", "filter", 0),
        ]
        if family == "ip":
            # After conntrack and NAT (-100), so replies and DNAT show in `ct`.
            cmds.append(self._chain(family, "localnet", "prerouting", "filter", 0))
        rule = functools.partial(self._rule, family=family)
        local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
        cmds.append(rule("prerouting", local, {"jump": {"target": "publish"}}))
        if family == "ip":
            cmds.append(rule("output", local, {"jump": {"target": "publish"}}))
        else:
            # [::1] is left to the proxy (see the module's docstring).
            not_loopback = _match(_ip("daddr", family), "::1", op="!=")
            cmds.append(rule("output", local, not_loopback, {"jump": {"target": "publish"}}))
        for fwd in forwards:
            expr = []
            if fwd.host_ip not in ("", "0.0.0.0", "::"):
                expr.append(_match(_ip("daddr", family), fwd.host_ip))
            expr += [
                _match({"payload": {"protocol": fwd.proto, "field": "dport"}}, fwd.host_port),
                {"dnat": {"addr": fwd.ip, "port": fwd.port}},
            ]
            cmds.append(rule("publish", *expr))

        names = [b.bridge for b in bridges]
        if names:
            # A container's VXLAN would leave masqueraded as its node, which the other nodes
            # take tunnels from (see _tunnel_guard): it could write into any spanning network.
            cmds.append(rule("forward", *self._vxlan_from(names), {"drop": None}))
        for b in bridges:
            subnet = b.subnet if family == "ip" else b.subnet6
            if family == "ip":
                # Loopback clients of published ports (see route_localnet on the bridge).
                cmds.append(
                    rule(
                        "postrouting",
                        _match(_ip("saddr"), _prefix("127.0.0.0/8")),
                        _match(_meta("oifname"), b.bridge),
                        {"masquerade": None},
                    )
                )
            if subnet:
                # Hairpin: a container reaching a sibling through a published port.
                cmds.append(
                    rule(
                        "postrouting",
                        _match(_ip("saddr", family), _prefix(subnet)),
                        _match(_meta("oifname"), b.bridge),
                        _match({"ct": {"key": "status"}}, "dnat", op="in"),
                        {"masquerade": None},
                    )
                )
            if subnet and not b.internal:
                cmds.append(
                    rule(
                        "postrouting",
                        _match(_ip("saddr", family), _prefix(subnet)),
                        _match(_meta("oifname"), b.bridge, op="!="),
                        {"masquerade": None},
                    )
                )
            cmds.append(
                rule(
                    "forward",
                    _match(_meta("iifname"), b.bridge),
                    _match(_meta("oifname"), b.bridge),
                    {"accept": None},
                )
            )
        if names and family == "ip":
            cmds += self._localnet_guard(names)
        if len(names) > 1:
            # Networks are isolated from each other.
            cmds.append(
                rule(
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
                cmds.append(rule("forward", outbound, {"drop": None}))
                cmds.append(rule("forward", inbound, {"drop": None}))
                continue
            cmds.append(rule("forward", outbound, {"accept": None}))
            for ct_key, value in (("state", ["established", "related"]), ("status", "dnat")):
                match = _match({"ct": {"key": ct_key}}, value, op="in")
                cmds.append(rule("forward", inbound, match, {"accept": None}))
            # Only replies and published ports come in from elsewhere.
            cmds.append(rule("forward", inbound, {"drop": None}))
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

    def apply(
        self,
        bridges: Iterable[BridgeRules],
        forwards: Iterable[Forward],
        tunnel_peers: Iterable[str] | None = None,
    ) -> None:
        _run({"nftables": self.ruleset(bridges, forwards, tunnel_peers)})

    def remove(self) -> None:
        cmds = []
        for family in FAMILIES:
            table = {"table": {"family": family, "name": self.table}}
            cmds += [{"add": table}, {"delete": table}]
        _run({"nftables": cmds})


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
