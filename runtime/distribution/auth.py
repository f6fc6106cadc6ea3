"""Docker's registry token flow: read the challenge, fetch a bearer token, cache it per scope.

Hand-written because it is a page of the token specification and no maintained Python
library implements the client side of it.
"""

import re
from dataclasses import dataclass

_PARAM = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    """A user name and a password or personal access token, or an identity token alone."""

    username: str = ""
    password: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.password)


@dataclass(frozen=True)
class Challenge:
    scheme: str
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`) as a value."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for key, quoted, bare in _PARAM.findall(rest):
        params[key.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
    return Challenge(
        scheme=scheme.lower(),
        realm=params.get("realm", ""),
        service=params.get("service", ""),
        scope=params.get("scope", ""),
    )


def scope_key(scopes: tuple[str, ...]) -> str:
    return " ".join(sorted(set(scopes)))


def repository_scope(repository: str, *actions: str) -> str:
    return f"repository:{repository}:{','.join(actions)}"
