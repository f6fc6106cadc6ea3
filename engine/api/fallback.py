"""What the Engine API answers for a path it does not know: dockerd's JSON 404.

The dashboard shares the TCP server, so a browser asking for an unknown unversioned page gets
the dashboard's own 404 page; everything else (the unix socket, any `/v1.xx/` path, clients
that do not ask for HTML) gets `{"message": "page not found"}`, which the docker CLI and
docker-py read as an API answer rather than failing on an HTML body.
"""

import re

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..errors import error_response

PAGE_NOT_FOUND = "page not found"
_VERSIONED = re.compile(r"^/v[0-9][0-9.]*/")


def wants_a_page(request: HttpRequest) -> bool:
    """A browser on TCP asking for an unversioned path: the dashboard's 404 serves it better."""
    scope = getattr(request, "scope", {}) or {}
    if scope.get("dockyard.transport") == "unix" or _VERSIONED.match(request.path):
        return False
    return "text/html" in request.headers.get("Accept", "")


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    if wants_a_page(request):
        raise Http404(request.path)
    return error_response(404, PAGE_NOT_FOUND)
