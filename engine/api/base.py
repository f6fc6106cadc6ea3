"""The decorator every Engine API view wears: who is asking, version check, Docker errors.

Who is asking and what their credential's scopes allow is decided in accounts/; this module
asks it for every request and applies the route's scope (scopes.py).
"""

import functools
import inspect
import json
import logging
import re

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ValidationError

from accounts.actors import NODE_ADMIN, Actor, acting, session_actor
from accounts.auth import actor_from_request_headers, client_address
from accounts.errors import MissingScope, TooManyAttempts

from ..errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    TooManyRequests,
    Unauthorized,
    error_response,
)
from .schemas import describe
from .scopes import required_scope

log = logging.getLogger(__name__)

API_VERSION = "1.47"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_csrf = CsrfViewMiddleware(lambda request: None)
MIN_API_VERSION = "1.24"


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def check_version(version: str | None) -> None:
    if not version:
        return
    if not re.fullmatch(r"\d+\.\d+", version):
        raise BadRequest(f"invalid API version {version!r}")
    if _version_tuple(version) > _version_tuple(API_VERSION):
        raise BadRequest(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
        raise BadRequest(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )


def actor_for(request: HttpRequest) -> Actor:
    """The unix socket is the node's admin; TCP callers must be a user."""
    scope = getattr(request, "scope", {}) or {}
    if scope.get("dockyard.transport") == "unix":
        return NODE_ADMIN
    try:
        actor = actor_from_request_headers(request.headers, client_address(request))
    except TooManyAttempts as e:
        raise TooManyRequests(str(e), headers={"Retry-After": str(e.retry_after)}) from None
    if actor is None and request.user.is_authenticated:
        # A browser session: another site could make the browser send it, so unsafe
        # methods must prove they come from our own pages.
        if request.method not in SAFE_METHODS and _csrf.process_view(request, None, (), {}):
            raise Forbidden("CSRF verification failed: send the X-CSRFToken header")
        actor = session_actor(request.user)
    if actor is None:
        raise Unauthorized("authentication required: use a personal access token")
    return actor


def check_scope(request: HttpRequest, actor: Actor) -> None:
    """Refuse unless the actor's credential carries the scope this route and method need."""
    match = request.resolver_match
    needed = required_scope(match.url_name if match else None, request.method)
    path = re.sub(r"^/v[0-9][0-9.]*/", "/", request.path)
    try:
        actor.require(needed, f"{request.method} {path}")
    except MissingScope as e:
        raise Forbidden(str(e)) from None


def parse_body(request: HttpRequest, model: type[BaseModel], *, optional: bool = False):
    raw = request.body
    if not raw.strip():
        if optional:
            return model()
        raise BadRequest("request body is empty; a JSON object is expected")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid JSON: {e}") from None
    if data is None and optional:
        return model()
    if not isinstance(data, dict):
        raise BadRequest("a JSON object is expected")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BadRequest(describe(e)) from None


def parse_filters(request: HttpRequest) -> dict[str, list[str]]:
    """Docker's `filters` query: JSON mapping a name to a list or to a {value: true} map."""
    raw = request.GET.get("filters")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise BadRequest("invalid filters: not JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest("invalid filters: a JSON object is expected")
    return {k: list(v.keys() if isinstance(v, dict) else v) for k, v in parsed.items()}


def flag(request: HttpRequest, name: str, default: bool = False) -> bool:
    value = request.GET.get(name)
    if value is None:
        return default
    return value.lower() not in ("0", "false", "")


def int_param(request: HttpRequest, name: str, default: int | None = None) -> int | None:
    value = request.GET.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {value!r}") from None


def _failure(e: Exception) -> JsonResponse:
    if isinstance(e, ApiError):
        return e.response()
    log.exception("engine API error")
    return error_response(500, f"internal error: {type(e).__name__}: {e}")


def engine_view(*methods: str):
    """Wrap a view taking (request, actor, **kwargs); works for sync and async views.

    The view runs as its actor (accounts.actors.acting), so audit entries written by model
    signals name who did it, over the socket, TCP or the dashboard alike.
    """
    allowed = (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods

    def wrap(view):
        def prepare(request, kwargs) -> Actor:
            if request.method not in allowed:
                raise MethodNotAllowed(f"method {request.method} not allowed")
            check_version(kwargs.pop("version", None))
            actor = actor_for(request)
            check_scope(request, actor)
            return actor

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request, **kwargs):
                try:
                    actor = await sync_to_async(prepare)(request, kwargs)
                    with acting(actor):
                        return await view(request, actor, **kwargs)
                except Exception as e:
                    return _failure(e)

            wrapped = async_view
        else:

            @functools.wraps(view)
            def sync_view(request, **kwargs):
                try:
                    actor = prepare(request, kwargs)
                    with acting(actor):
                        return view(request, actor, **kwargs)
                except Exception as e:
                    return _failure(e)

            wrapped = sync_view
        # What the route walk in tests/engine/api/test_scopes.py reads.
        wrapped.engine_methods = allowed
        return csrf_exempt(wrapped)

    return wrap
