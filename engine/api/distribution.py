"""`docker login`, `pull`, `push` and `search` of the Docker Engine API, against registries."""

import inspect

from asgiref.sync import sync_to_async
from django.http import JsonResponse, StreamingHttpResponse
from pydantic import BaseModel, ConfigDict

from accounts.auth import client_address
from accounts.errors import TooManyAttempts
from accounts.services import check_basic

from ..errors import BadRequest, TooManyRequests
from ..nodes import local_node
from ..services import distribution as svc
from .base import engine_view, int_param, parse_body, parse_filters

MAX_SEARCH = 100


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""


@engine_view("POST")
def login(request, actor):
    body = parse_body(request, AuthConfig)
    answer = svc.do_login(
        local_node(), body.username, body.password or body.identitytoken, body.serveraddress
    )
    return JsonResponse(answer)


@engine_view("POST")
async def create_image(request, actor):
    if "fromSrc" in request.GET:
        return await _import(request, actor)
    ref = svc.image_reference(request.GET.get("fromImage", ""), request.GET.get("tag", ""))
    auth = svc.registry_auth(request.headers.get("X-Registry-Auth", ""))
    hold = await sync_to_async(svc.authorize_pull)(actor, ref)
    node = await sync_to_async(local_node)()
    body = svc.pull_stream(node, ref, auth, actor, hold)
    return StreamingHttpResponse(body, content_type="application/json")


async def _import(request, actor):
    try:
        from . import archives
    except ImportError:
        archives = None
    import_image = getattr(archives, "import_image", None)
    if import_image is None:
        raise BadRequest("import is not available")
    if inspect.iscoroutinefunction(import_image):
        return await import_image(request, actor)
    return await sync_to_async(import_image)(request, actor)


@engine_view("POST")
async def push_image(request, actor, name):
    auth = svc.registry_auth(request.headers.get("X-Registry-Auth", ""))
    node = await sync_to_async(local_node)()
    refs = await sync_to_async(svc.local_tags)(actor, node, name, request.GET.get("tag", ""))
    repository = refs[0].rpartition(":")[0]
    body = svc.push_stream(node, repository, refs, auth)
    return StreamingHttpResponse(body, content_type="application/json")


@engine_view("GET")
def search(request, actor):
    term = request.GET.get("term", "")
    if not term:
        raise BadRequest("term is required")
    limit = min(max(int_param(request, "limit", 25) or 25, 1), MAX_SEARCH)
    official = parse_filters(request).get("is-official")
    wanted = official[0] in ("true", "1") if official else None
    searcher = _registry_actor(request) or actor
    return JsonResponse(svc.search(term, limit, searcher, wanted), safe=False)


def _registry_actor(request):
    """The actor of X-Registry-Auth, when its credentials check out.

    A password here is a sign-in like any other, under the same limits (actor_for in base.py
    turns TooManyAttempts into a 429).
    """
    auth = svc.registry_auth(request.headers.get("X-Registry-Auth", ""))
    if not auth.get("username"):
        return None
    try:
        return check_basic(auth["username"], auth.get("password", ""), client_address(request))
    except TooManyAttempts as e:
        raise TooManyRequests(str(e), headers={"Retry-After": str(e.retry_after)}) from None
