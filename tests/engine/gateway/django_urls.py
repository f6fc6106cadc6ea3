"""Views shaped like the Engine API's, for the gateway to serve through Django's ASGI handler."""

import asyncio
import json

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def exec_start(request, exec_id):
    options = json.loads(request.body)
    spec = {"container": exec_id, "tty": options["Tty"]}
    return HttpResponse(status=101, headers={"X-Dockyard-Hijack": json.dumps(spec)})


@csrf_exempt
def load(request):
    return JsonResponse({"bytes": len(request.body)})


async def logs(request, container_id):
    async def lines():
        for i in range(3):
            yield f"line {i}\n".encode()
            await asyncio.sleep(0.01)

    return StreamingHttpResponse(lines(), content_type="application/vnd.docker.raw-stream")


urlpatterns = [
    path("v1.47/exec/<str:exec_id>/start", exec_start),
    path("v1.47/images/load", load),
    path("v1.47/containers/<str:container_id>/logs", logs),
]
