"""Image references with Docker's grammar and normalisation.

Hand-written because the grammar is a handful of regular expressions (those of the
distribution/reference package) and no maintained Python library implements it.
"""

import re
from dataclasses import dataclass

from runtime.errors import InvalidInput

DEFAULT_TAG = "latest"
_DEFAULT_DOMAINS = {"docker.io", "index.docker.io"}
_OFFICIAL_PREFIX = "library/"
_MAX_NAME = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    domain: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """Familiar repository name: `busybox`, `alice/app`, `registry.local:5000/app`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(ref: str, default_tag: bool = True) -> Reference:
    """Parse `[domain/]path[:tag][@digest]`; a bare name gets the tag `latest`."""
    if not ref or ref != ref.strip():
        raise InvalidInput("invalid reference format")
    remainder, _, digest = ref.partition("@")
    if "@" in ref and not _DIGEST.match(digest):
        raise InvalidInput(f"invalid reference format: invalid digest {digest!r}")
    name, tag = remainder, None
    colon, slash = remainder.rfind(":"), remainder.rfind("/")
    if colon > slash:
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidInput("invalid reference format")
    if not name or len(name) > _MAX_NAME:
        raise InvalidInput("invalid reference format: repository name must be 1 to 255 chars")

    domain, path = _split_domain(name)
    if domain is not None and not _DOMAIN.match(domain):
        raise InvalidInput("invalid reference format")
    if path != path.lower() and _PATH.match(path.lower()):
        raise InvalidInput(f"invalid reference format: repository name ({path}) must be lowercase")
    if not _PATH.match(path):
        raise InvalidInput("invalid reference format")
    if tag is None and not digest and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest or None)


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain: str | None = first
        path = rest
    else:
        domain, path = None, name
    if domain in _DEFAULT_DOMAINS:
        domain = None
    if domain is None and path.startswith(_OFFICIAL_PREFIX) and path.count("/") == 1:
        path = path[len(_OFFICIAL_PREFIX) :]
    return domain, path
