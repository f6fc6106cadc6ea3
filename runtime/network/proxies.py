"""The userland proxies of published ports (see userland_proxy), kept in line with the state.

Each container record lists its running proxies (`proxies`: what one serves, and its pid).
`sync` starts those the published ports need and stops the rest; a proxy lost to a reboot
is started again by the next sync. A proxy is a process of its own, not a thread of the
worker: it must outlive the worker that started it, as the container does.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runtime.errors import Conflict
from runtime.network.layout import Layout
from runtime.network.state import Snapshot

PROGRAM = Path(__file__).with_name("userland_proxy.py")
_WILDCARDS = ("", "0.0.0.0", "::")
_KEYS = ("listen", "port", "proto", "to", "to_port")


def host_has_ipv6() -> bool:
    """Whether the host can listen on IPv6 (a kernel booted with ipv6.disable=1 cannot)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def wanted(snap: Snapshot, rec: dict[str, Any], ipv6: bool) -> list[dict[str, Any]]:
    """The proxies the record's published ports need: on [::1] for a container with IPv6
    (the DNAT serves its other addresses), on every IPv6 address of the host for one without
    (as Docker's proxy); none on a host without IPv6."""
    if not ipv6 or not rec["ports"]:
        return []
    ep = next(
        (
            e
            for e in rec["networks"]
            if not snap.networks.get(e["network_id"], {}).get("internal", False)
        ),
        None,
    )
    if ep is None:
        return []
    found = []
    for p in rec["ports"]:
        host_ip = p["host_ip"]
        if host_ip in _WILDCARDS:
            listen = "::1" if ep.get("ip6") else "::"
        elif ":" not in host_ip or (ep.get("ip6") and host_ip != "::1"):
            continue
        else:
            listen = host_ip
        found.append(
            {
                "listen": listen,
                "port": p["host_port"],
                "proto": p["proto"],
                "to": ep.get("ip6") or ep["ip"],
                "to_port": p["container_port"],
            }
        )
    return found


def sync(snap: Snapshot, layout: Layout) -> None:
    """Start and stop proxies until each container has those its ports need."""
    ipv6: bool | None = None
    for cid, rec in snap.endpoints.items():
        running = rec.get("proxies", [])
        if not running and not rec["ports"]:
            continue
        if ipv6 is None:
            ipv6 = host_has_ipv6()
        need = wanted(snap, rec, ipv6)
        keep = []
        for proxy in running:
            same = {k: proxy[k] for k in _KEYS} in need
            if same and _alive(proxy):
                keep.append(proxy)
            else:
                stop(proxy)
        have = [{k: p[k] for k in _KEYS} for p in keep]
        started: list[dict[str, Any]] = []
        try:
            for spec in need:
                if spec not in have:
                    started.append(start(layout, cid, spec))
        except Exception:
            # The state is not written when this fails: nothing would remember these.
            for proxy in started:
                stop(proxy)
            raise
        rec["proxies"] = keep + started


def stop_all(rec: dict[str, Any]) -> None:
    for proxy in rec.get("proxies", []):
        stop(proxy)
    rec["proxies"] = []


def start(layout: Layout, container_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    tag = _tag(layout, container_id, spec)
    argv = [sys.executable, "-I", "-S", str(PROGRAM), "--tag", tag, "--proto", spec["proto"]]
    argv += ["--listen", spec["listen"], "--port", str(spec["port"])]
    argv += ["--to", spec["to"], "--to-port", str(spec["to_port"])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise Conflict(f"cannot publish port {done.stderr.strip()}")
    return {**spec, "pid": int(done.stdout), "tag": tag}


def stop(proxy: dict[str, Any], wait: float = 2.0) -> None:
    """SIGTERM the proxy if it is still ours, and wait until its port is free."""
    if not _alive(proxy):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proxy["pid"], signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _alive(proxy) and time.monotonic() < deadline:
        time.sleep(0.005)


def _tag(layout: Layout, container_id: str, spec: dict[str, Any]) -> str:
    return f"{layout.prefix}:{container_id[:12]}:[{spec['listen']}]:{spec['port']}/{spec['proto']}"


def _alive(proxy: dict[str, Any]) -> bool:
    """The pid still runs the proxy with this tag (a pid is reused once the process is gone;
    a zombie has no command line)."""
    try:
        argv = Path(f"/proc/{proxy['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return proxy["tag"].encode() in argv
