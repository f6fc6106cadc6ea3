"""Where one prefix's objects live: link and namespace names, the state and /etc directories.

Every link, namespace and nftables table a manager makes carries its prefix, so several
platforms (and tests) on one host never touch each other's objects.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InvalidInput

_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_IFNAMSIZ = 15


def digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Layout:
    prefix: str
    directory: Path

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise InvalidInput(
                f"network prefix {self.prefix!r} must be 1-8 lowercase letters/digits"
            )

    def link_name(self, kind: str, key: str) -> str:
        """`kind` is b (bridge), v (host end of a veth) or x (a VXLAN tunnel)."""
        return (self.prefix + kind + key)[:_IFNAMSIZ]

    def netns_name(self, container_id: str) -> str:
        return f"{self.prefix}-{container_id[:12]}"

    def etc_dir(self, container_id: str) -> Path:
        """Holds the container's hosts, hostname and resolv.conf, to bind-mount into it."""
        return self.directory / "etc" / container_id
