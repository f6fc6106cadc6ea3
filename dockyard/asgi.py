import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.settings")

import asyncio  # noqa: E402
import functools  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import django  # noqa: E402
from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.core.handlers.base import BaseHandler  # noqa: E402
from django.urls import Resolver404, get_resolver, set_script_prefix  # noqa: E402

django.setup(set_prefix=False)

from registry_app import storage  # noqa: E402

# Request threads kept for the next requests; more than this many idle ones are let go.
IDLE_REQUEST_THREADS = 32


# handle and get_response_async both ask this of every request: the second asks the cache.
@functools.lru_cache(maxsize=256)
def _view_is_async(path: str) -> bool:
    try:
        return iscoroutinefunction(get_resolver().resolve(path).func)
    except Resolver404:
        return False


class _Handler(ASGIHandler):
    # Django cuts every chunk of a response into 64 KiB messages, each a copy; a blob the
    # registry streams in 4 MiB reads would cross the server 64 times as often.
    chunk_size = storage.SERVE_CHUNK

    def __init__(self):
        super().__init__()
        # Under the async chain a sync view pays two thread switches per middleware, about
        # 15 ms a request (measured); a sync view runs its whole chain in one switch instead.
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        self._idle_threads: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        # Django starts a thread for each request and yet another to join it afterwards, about
        # 2.5 ms a request. A request still gets a thread to itself, but one kept from before.
        thread = self._idle_threads.pop() if self._idle_threads else ThreadPoolExecutor(1)
        async with ThreadSensitiveContext(executor=thread):
            finished = await self.handle(scope, receive, send)
        # A view cancelled with its client may still run: the thread waits until it is done.
        # After a response's close, which ran on the thread last, it is done already: a
        # request then costs one thread switch fewer.
        if not finished:
            await asyncio.wrap_future(thread.submit(int))
        if len(self._idle_threads) < IDLE_REQUEST_THREADS:
            self._idle_threads.append(thread)
        else:
            thread.shutdown(wait=False)

    async def handle(self, scope, receive, send) -> bool:
        """Django's handle, except where a sync view's request_started is sent; True when the
        response was closed on the request's thread, the last work the thread is given.

        Django sends it with a thread switch of its own before the view's; a sync view gets
        it in the switch that runs its middleware and view, one fewer (about 0.5 ms) before
        the first byte of every registry answer.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return False
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None or _view_is_async(request.path_info):
            await signals.request_started.asend(sender=self.__class__, scope=scope)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return True

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
            body_file.close()
            return False
        await sync_to_async(response.close)()
        body_file.close()
        return True

    async def get_response_async(self, request):
        if _view_is_async(request.path_info):
            return await super().get_response_async(request)
        return await sync_to_async(self._respond, thread_sensitive=True)(request)

    def _respond(self, request):
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        return self._sync.get_response(request)


django_asgi = _Handler()

from http.cookies import CookieError, SimpleCookie  # noqa: E402

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from accounts.auth import actor_from_credentials  # noqa: E402
from accounts.errors import TooManyAttempts  # noqa: E402
from engine.api.build_body import streamed_build_bodies  # noqa: E402
from platformkit.guards import allowed_origins, limit_anonymous_bodies  # noqa: E402
from registry_app import tokens as registry_tokens  # noqa: E402
from registry_app.body_stream import streaming_uploads  # noqa: E402
from webui.routing import websocket_urlpatterns  # noqa: E402


@database_sync_to_async
def _known_caller(scope) -> bool:
    """Whether a request carries credentials of a user: a personal access token, a password,
    a registry bearer token (blob uploads) or a dashboard session."""
    lowered = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
    }
    scheme, _, value = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        claims = registry_tokens.verify(value.strip())
        if claims is not None:
            return claims.user_id is not None
    session_key = ""
    try:
        morsel = SimpleCookie(lowered.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
        session_key = morsel.value if morsel is not None else ""
    except CookieError:
        pass
    client = scope.get("client") or ("",)
    try:
        return actor_from_credentials(lowered, session_key, str(client[0] or "")) is not None
    except TooManyAttempts:
        return False


def _on_unix_socket(scope) -> bool:
    # The engine gateway's socket is the node's administrator; its callers are root.
    return scope.get("dockyard.transport") == "unix"


# The server serves no files of its own: the dashboard's assets come through Django.
application = ProtocolTypeRouter(
    {
        "http": limit_anonymous_bodies(
            streaming_uploads(streamed_build_bodies(ASGIStaticFilesHandler(django_asgi))),
            limit=lambda: settings.DOCKYARD_ANONYMOUS_BODY_LIMIT,
            identify=_known_caller,
            exempt=_on_unix_socket,
        ),
        "websocket": allowed_origins(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
            lambda: settings.DOCKYARD_ALLOWED_HOSTS,
        ),
    }
)
