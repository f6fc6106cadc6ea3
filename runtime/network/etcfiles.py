"""/etc/hosts, /etc/hostname and /etc/resolv.conf for a container.

The files are bind-mounted into containers one by one, so an update after the first
write keeps the inode (rewritten in place under the network lock): a rename would
leave the container looking at the old file.
"""

import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
# systemd-resolved's list of real upstreams, used when the host's resolver is a stub on loopback.
RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")

_BASE_HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


def write_etc_files(
    directory: Path,
    hostname: str,
    ip: str | None,
    extra_hosts: Iterable[tuple[str, str]] = (),
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
) -> tuple[Path, Path, Path]:
    """Write hosts, hostname and resolv.conf into `directory`; returns their paths.

    `extra_hosts` are (name, address) pairs, like `--add-host name:address`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    hosts = directory / "hosts"
    hostname_file = directory / "hostname"
    resolv = directory / "resolv.conf"
    write_hosts(hosts, hostname, ip, extra_hosts)
    _replace(hostname_file, hostname + "\n")
    _replace(resolv, resolv_conf(dns, search))
    return hosts, hostname_file, resolv


def hosts_content(hostname: str, ip: str | None, extra_hosts: Iterable[tuple[str, str]]) -> str:
    lines = [_BASE_HOSTS.rstrip("\n")]
    for name, address in extra_hosts:
        lines.append(f"{address}\t{name}")
    if ip:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def write_hosts(
    path: Path, hostname: str, ip: str | None, extra_hosts: Iterable[tuple[str, str]]
) -> None:
    content = hosts_content(hostname, ip, extra_hosts)
    if path.exists():
        rewrite_in_place(path, content)
    else:
        _replace(path, content)


def rewrite_in_place(path: Path, content: str) -> None:
    data = content.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _replace(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _parse(path: Path) -> tuple[list[str], list[str], list[str]]:
    servers, search, options = [], [], []
    try:
        text = path.read_text()
    except (FileNotFoundError, PermissionError):
        return servers, search, options
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver":
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    return servers, search, options


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def host_resolvers() -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search, options) a container can use: loopback resolvers never work there."""
    servers, search, options = _parse(HOST_RESOLV_CONF)
    usable = [s for s in servers if not _is_loopback(s)]
    if not usable and servers:
        upstream, upstream_search, _ = _parse(RESOLVED_UPSTREAMS)
        usable = [s for s in upstream if not _is_loopback(s)]
        search = search or upstream_search
    return usable, search, options


def resolv_conf(dns: Sequence[str] = (), search: Sequence[str] = ()) -> str:
    servers, host_search, options = host_resolvers()
    lines = [f"nameserver {s}" for s in (dns or servers)]
    if search or host_search:
        lines.append("search " + " ".join(search or host_search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
