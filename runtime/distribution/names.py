"""Which registry and repository a familiar image reference names.

A reference without a domain (or with docker.io) means the platform's own registry, where a
single-component name lives under `library/`, as on Docker Hub.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from runtime.images.reference import parse_reference


@dataclass(frozen=True)
class RemoteReference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    # The name the local image keeps: what the user typed, normalised (`busybox`).
    local_name: str

    @property
    def reference(self) -> str:
        """What to ask /v2/<repository>/manifests/ for."""
        return self.digest or self.tag or "latest"

    @property
    def local_tag(self) -> str | None:
        return f"{self.local_name}:{self.tag}" if self.tag and not self.digest else None


def resolve(ref: str, default_registry: str) -> RemoteReference:
    parsed = parse_reference(ref)
    if parsed.domain:
        registry, repository = parsed.domain, parsed.path
    else:
        registry = default_registry
        repository = parsed.path if "/" in parsed.path else f"library/{parsed.path}"
    return RemoteReference(registry, repository, parsed.tag, parsed.digest, parsed.name)


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(registry: str, insecure: Iterable[str] = ()) -> str:
    """HTTPS, except for loopback hosts and registries configured as insecure."""
    plain = is_loopback(registry) or registry in set(insecure)
    return f"{'http' if plain else 'https'}://{registry}"
