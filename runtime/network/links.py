"""Netlink work through pyroute2: bridges, veth pairs, named network namespaces, sysctls."""

import contextlib
import ctypes
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

# linux/if_addr.h: the address is usable at once, without duplicate address detection.
IFA_F_NODAD = 0x02

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
# linux/mount.h
_MS_BIND = 4096
_MS_REC = 16384
_MS_SHARED = 1 << 20
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, _CLONE_NEWNET))


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[IPRoute]:
    """A netlink socket bound to the namespace at `path`.

    pyroute2's `IPRoute(netns=...)` starts a helper process per socket (about 20 ms); a socket
    opened while this thread visits the namespace stays bound to it and costs about 1 ms.
    setns() moves only the calling thread, so other threads never see the visit.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            ipr = IPRoute()
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
    with ipr:
        yield ipr


def _sysctl(path: str, value: str) -> None:
    Path("/proc/sys", path).write_text(value)


def enable_ip_forward(ipv6: bool = False) -> None:
    """Routing between bridges and the host's links; IPv6 only once a network has it, as
    Docker does: with forwarding on, Linux stops taking router advertisements on links whose
    accept_ra is 1, so a host that gets its IPv6 route that way needs accept_ra 2."""
    _sysctl("net/ipv4/ip_forward", "1")
    if ipv6:
        _sysctl("net/ipv6/conf/all/forwarding", "1")


def _add_address(ipr: IPRoute, index: int, address: str, prefixlen: int) -> None:
    if ":" in address:
        # No duplicate address detection: it would keep the address unusable ("tentative")
        # for a second or two after each start, and the network hands out every address once.
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=IFA_F_NODAD)
    else:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)


def ensure_bridge(
    name: str, gateway: str, prefixlen: int, gateway6: str = "", prefixlen6: int = 0
) -> None:
    """Create the bridge with its gateway addresses if missing; idempotent."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            ipr.link("add", ifname=name, kind="bridge")
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        have = {(a.get("address"), a["prefixlen"]) for a in ipr.get_addr(index=index)}
        wanted = [(gateway, prefixlen)] + ([(gateway6, prefixlen6)] if gateway6 else [])
        for address, length in wanted:
            if (address, length) not in have:
                _add_address(ipr, index, address, length)
        ipr.link("set", index=index, state="up")
    # Lets DNAT send 127.0.0.1-sourced packets (published ports reached via loopback)
    # out through this bridge; postrouting masquerades them. It also makes the kernel take
    # 127.0.0.0/8 coming in on the bridge, which the firewall's localnet chain refuses
    # (CVE-2020-8558).
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")


def delete_link(name: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=index)


def links_with_prefix(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        names = [link.get("ifname") for link in ipr.get_links()]
    return [n for n in names if n and n.startswith(prefix)]


def netns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def create_netns(name: str) -> str:
    """A named namespace (visible to `ip netns`) with loopback up; returns its path.

    pyroute2's `netns.create` forks a helper process for the unshare; this thread unshares
    itself instead (the network namespace is per thread), binds the new namespace to its name
    and returns home, which saves about that process's start on every container start.
    """
    path = netns_path(name)
    if os.path.exists(path):
        with in_netns(path) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        return path
    _share_netns_dir()
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.unshare(_CLONE_NEWNET))
        try:
            _check(_libc.mount(b"/proc/thread-self/ns/net", path.encode(), None, _MS_BIND, None))
            with IPRoute() as ns:
                ns.link("set", index=socket.if_nametoindex("lo"), state="up")
        finally:
            _setns(home)
    except BaseException:
        with contextlib.suppress(OSError):
            _libc.umount2(path.encode(), _MNT_DETACH)
            os.unlink(path)
        raise
    finally:
        os.close(home)
    return path


def _share_netns_dir() -> None:
    """Make the names' directory a shared mount, as `ip netns add` does, so a namespace bound
    there is seen from every mount namespace that has the directory (conmon's, crun's)."""
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    target = str(NETNS_DIR).encode()
    if _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None) != 0:
        _check(_libc.mount(target, target, None, _MS_BIND | _MS_REC, None))
        _check(_libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None))


def remove_netns(name: str) -> None:
    path = netns_path(name)
    if os.path.exists(path):
        netns.remove(path)


def netns_with_prefix(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def attach_veth(
    *,
    bridge: str,
    host_ifname: str,
    ns_path: str,
    ifname: str,
    ip: str,
    prefixlen: int,
    default_gateway: str | None,
    mac: str | None = None,
    ip6: str = "",
    prefixlen6: int = 0,
    default_gateway6: str | None = None,
    mtu: int = 0,
) -> str:
    """Plug a new veth pair into `bridge` and the namespace; returns the container end's MAC:
    `mac` when one is asked for, else Docker's 02:42 followed by the IPv4 address.
    `mtu` 0 is the kernel's default."""
    mac = mac or mac_for(ip)
    sized = {"mtu": mtu} if mtu else {}
    # The container's end is born in its namespace under its final name: moving a link
    # between namespaces waits for an RCU grace period, most of what plugging it in cost.
    # Names are resolved with if_nametoindex: pyroute2 decodes a whole link message for each
    # lookup. (`python -m bench.run_latency`, runtime path: both on `docker run`'s path.)
    fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:
            with contextlib.suppress(OSError, NetlinkError):
                ipr.link("del", index=socket.if_nametoindex(host_ifname))
            ipr.link(
                "add",
                ifname=host_ifname,
                kind="veth",
                peer={"ifname": ifname, "address": mac, "net_ns_fd": fd, **sized},
                master=socket.if_nametoindex(bridge),
                **sized,
            )
            ipr.link("set", index=socket.if_nametoindex(host_ifname), state="up")
    finally:
        os.close(fd)
    with in_netns(ns_path) as ns:
        index = ns.link_lookup(ifname=ifname)[0]
        _add_address(ns, index, ip, prefixlen)
        if ip6:
            _add_address(ns, index, ip6, prefixlen6)
        ns.link("set", index=index, state="up")
        if default_gateway:
            ns.route("add", dst="0.0.0.0/0", gateway=default_gateway)
        if default_gateway6:
            ns.route("add", dst="::/0", gateway=default_gateway6, family=socket.AF_INET6)
    return mac


def mac_for(ip: str) -> str:
    """Docker's MAC for an endpoint without one asked for: locally administered 02:42, then
    the four bytes of its IPv4 address, unique within the network as the address is."""
    return "02:42:" + ":".join(f"{int(octet):02x}" for octet in ip.split("."))


def set_default_route(ns_path: str, gateway: str) -> None:
    with in_netns(ns_path) as ns:
        if ":" in gateway:
            ns.route("replace", dst="::/0", gateway=gateway, family=socket.AF_INET6)
        else:
            ns.route("replace", dst="0.0.0.0/0", gateway=gateway)


def has_default_route(ns_path: str, family: int = socket.AF_INET) -> bool:
    with in_netns(ns_path) as ns:
        return any(r["dst_len"] == 0 for r in ns.get_routes(family=family, table=254))


def set_veth_mtu(host_ifname: str, ns_path: str, ifname: str, mtu: int) -> None:
    """Both ends of an endpoint's veth to `mtu` (a network that starts to span nodes)."""
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=host_ifname):
            ipr.link("set", index=index, mtu=mtu)
    with in_netns(ns_path) as ns:
        for index in ns.link_lookup(ifname=ifname):
            ns.link("set", index=index, mtu=mtu)
