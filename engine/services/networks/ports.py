"""Published ports a create request asks for, as the runtime takes them."""

from ...errors import BadRequest


def _port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise BadRequest(f"unsupported protocol {proto} in port {key}")
    try:
        return int(port), proto
    except ValueError:
        raise BadRequest(f"invalid container port {key}") from None


def port_requests(host: dict, exposed: dict | None) -> list[dict]:
    """HostConfig.PortBindings (and with PublishAllPorts, every exposed port) as
    runtime.network.PortBinding fields; host port 0 means any free one."""
    out = []
    bindings = host.get("PortBindings") or {}
    for key, entries in bindings.items():
        port, proto = _port_key(key)
        for entry in entries or [{}]:
            text = (entry or {}).get("HostPort") or ""
            if "-" in text:
                raise BadRequest(f"host port ranges are not supported: {text}")
            try:
                host_port = int(text) if text else 0
            except ValueError:
                raise BadRequest(f"invalid host port {text}") from None
            host_ip = (entry or {}).get("HostIp") or ""
            out.append(
                {"host_ip": host_ip, "host_port": host_port, "container_port": port, "proto": proto}
            )
    if host.get("PublishAllPorts"):
        for key in exposed or {}:
            if key not in bindings:
                port, proto = _port_key(key)
                out.append({"host_ip": "", "host_port": 0, "container_port": port, "proto": proto})
    return out
