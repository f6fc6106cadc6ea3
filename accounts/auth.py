"""Reading credentials from HTTP requests, for every API that accepts them."""

import base64
import binascii
from collections.abc import Mapping
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from .actors import Actor, session_actor
from .services import check_basic, check_secret


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


def actor_from_request_headers(headers: Mapping[str, str], address: str = "") -> Actor | None:
    """The actor of `Authorization: Bearer <personal access token>` or `Basic`.

    `address` is the client's, for the sign-in limits; TooManyAttempts means wait.
    """
    scheme, _, value = _header(headers, "Authorization").strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return check_secret(value.strip())
    if scheme == "basic":
        pair = parse_basic(value)
        return check_basic(*pair, address=address) if pair else None
    return None


def user_from_request_headers(headers: Mapping[str, str]) -> AbstractBaseUser | None:
    actor = actor_from_request_headers(headers)
    return actor.user if actor else None


def client_address(request: HttpRequest) -> str:
    """The peer's address as the server saw it (no proxy headers are trusted)."""
    return request.META.get("REMOTE_ADDR") or ""


def session_user(session_key: str) -> AbstractBaseUser | None:
    """The signed-in user of a dashboard session cookie's value, outside a Django request."""
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(request)
    return user if user.is_authenticated else None


def actor_from_credentials(
    headers: Mapping[str, str], session_key: str = "", address: str = ""
) -> Actor | None:
    """Who a request is, from its Authorization header or else its session cookie.

    For checks made before Django has a request, such as whether a caller may send a large
    body; the views then authenticate the request again in their own way.
    """
    actor = actor_from_request_headers(headers, address)
    if actor is None and not _header(headers, "Authorization"):
        user = session_user(session_key)
        actor = session_actor(user) if user is not None else None
    return actor
