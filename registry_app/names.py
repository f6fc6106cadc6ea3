"""Syntax of repository names, tags and digests, as the distribution spec defines them."""

import re

from .errors import RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
MAX_NAME = 255
# Repositories whose name has a single component live in the platform namespace.
PLATFORM_NAMESPACE = "library"


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise RegistryError("NAME_INVALID", "invalid repository name", {"name": name[:MAX_NAME]})
    return name


def namespace_of(name: str) -> str:
    head, sep, _ = name.partition("/")
    return head if sep else PLATFORM_NAMESPACE


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_digest(digest: str) -> str:
    """A digest this registry can verify; only sha256 is computed here."""
    if _DIGEST.fullmatch(digest):
        return digest
    if _ANY_DIGEST.fullmatch(digest):
        raise RegistryError(
            "DIGEST_INVALID", "unsupported digest algorithm: use sha256", {"digest": digest[:200]}
        )
    raise RegistryError("DIGEST_INVALID", "invalid digest", {"digest": digest[:200]})


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise RegistryError("TAG_INVALID", "invalid tag", {"tag": tag[:200]})
    return tag
