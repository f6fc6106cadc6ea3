"""Reading credentials from HTTP headers, for every API that accepts them."""

import base64
import binascii
from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser

from .services import Principal, check_basic, check_secret


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), "")
    return value or ""


def parse_basic(value: str) -> tuple[str, str] | None:
    """The (user name, password) pair of a `Basic` credential, or None if malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def principal_from_request_headers(headers: Mapping[str, str]) -> Principal | None:
    """The principal of `Authorization: Bearer <personal access token>` or `Basic`."""
    scheme, _, value = _header(headers, "Authorization").strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return check_secret(value.strip())
    if scheme == "basic":
        pair = parse_basic(value)
        return check_basic(*pair) if pair else None
    return None


def user_from_request_headers(headers: Mapping[str, str]) -> AbstractBaseUser | None:
    principal = principal_from_request_headers(headers)
    return principal.user if principal else None
