import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockyard.settings")

import django  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

django.setup(set_prefix=False)


class _Handler(ASGIHandler):
    # Django cuts every chunk of a response into 64 KiB messages, each a copy; a blob the
    # registry streams in 1 MiB reads would cross the server 16 times as often.
    chunk_size = 1 << 20


django_asgi = _Handler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from webui.routing import websocket_urlpatterns  # noqa: E402

# daphne serves no files of its own: the dashboard's assets come through Django.
application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
