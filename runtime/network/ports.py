"""Published ports in the locked state: host ports picked and checked, and the forwards the
firewall makes of them."""

import errno
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from runtime.errors import Conflict, InvalidInput, RuntimeFailure
from runtime.network.endpoints import is_internal
from runtime.network.firewall import Forward
from runtime.network.model import PortBinding
from runtime.network.state import Snapshot


def target(snap: Snapshot, rec: dict[str, Any]) -> str | None:
    """The address published ports lead to: the first endpoint on a network with egress."""
    ep = _target_endpoint(snap, rec)
    return ep["ip"] if ep else None


def _target_endpoint(snap: Snapshot, rec: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in rec["networks"] if not is_internal(snap, e)), None)


def bind(snap: Snapshot, container_id: str, ports: Sequence[PortBinding]) -> list[PortBinding]:
    """Record the container's bindings with real host ports; returns them."""
    rec = snap.endpoints.get(container_id)
    if rec is None or not target(snap, rec):
        raise Conflict(f"container {container_id[:12]} is not on a network with egress")
    taken = [PortBinding.from_dict(p) for r in snap.endpoints.values() for p in r["ports"]]
    actual = []
    for want in ports:
        if want.proto not in ("tcp", "udp"):
            raise InvalidInput(f"unsupported protocol {want.proto}")
        try:
            ipaddress.ip_address(want.host_ip or "0.0.0.0")
        except ValueError:
            raise InvalidInput(f"cannot publish on {want.host_ip}: not an IP address") from None
        bound = PortBinding(
            host_ip=want.host_ip or "0.0.0.0",
            host_port=want.host_port,
            container_port=want.container_port,
            proto=want.proto,
        )
        bound.host_port = host_port(bound, taken)
        taken.append(bound)
        actual.append(bound)
    rec["ports"] += [p.to_dict() for p in actual]
    return actual


def forwards(snap: Snapshot) -> list[Forward]:
    """The DNATs of every published port: to the container's IPv4 address for a binding on
    IPv4 or on all addresses, to its IPv6 one (when it has one) for a binding on IPv6 or on
    all addresses."""
    found = []
    for rec in snap.endpoints.values():
        ep = _target_endpoint(snap, rec)
        if ep is None:
            continue
        for p in rec["ports"]:
            host_ip, v6 = p["host_ip"], ":" in p["host_ip"]
            if not v6:
                found.append(
                    Forward(host_ip, p["host_port"], p["proto"], ep["ip"], p["container_port"])
                )
            if ep.get("ip6") and (v6 or host_ip in ("", "0.0.0.0")):
                on = host_ip if v6 else "::"
                found.append(
                    Forward(on, p["host_port"], p["proto"], ep["ip6"], p["container_port"])
                )
    return found


def host_port(want: PortBinding, taken: list[PortBinding]) -> int:
    """`want`'s host port if it is free, else (for 0) a free one the kernel picks."""

    def clashes(port: int) -> bool:
        return any(
            t.proto == want.proto
            and t.host_port == port
            and (t.host_ip == want.host_ip or bool({"0.0.0.0", "::"} & {t.host_ip, want.host_ip}))
            for t in taken
        )

    kind = socket.SOCK_STREAM if want.proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in want.host_ip else socket.AF_INET
    address = "" if want.host_ip in ("0.0.0.0", "::") else want.host_ip
    for _ in range(100):
        with socket.socket(family, kind) as probe:
            try:
                probe.bind((address, want.host_port))
            except OSError as err:
                if err.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise Conflict(
                        f"port {want.host_ip}:{want.host_port}/{want.proto} is already in use"
                    ) from None
                if err.errno == errno.EADDRNOTAVAIL:
                    raise InvalidInput(f"{want.host_ip} is not an address of this host") from None
                raise
            port = probe.getsockname()[1]
        if not clashes(port):
            return port
        if want.host_port:
            raise Conflict(
                f"port {want.host_ip}:{want.host_port}/{want.proto} is already allocated"
            )
    raise RuntimeFailure("no free host port found")
