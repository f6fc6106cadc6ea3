"""A page served from a container's published port tries to open a visitor's web socket.

alice is signed in to the dashboard at 127.0.0.1:8000; a page mallory serves from her
container at 127.0.0.1:8081 opens a websocket to the dashboard from alice's browser, which
sends alice's cookies along with the page's Origin.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from dockyard.asgi import application
from platformkit.guards import origin_allowed

from .test_pages import make_container

DASHBOARD = "http://127.0.0.1:8000"


def alices_cookie(user) -> bytes:
    browser = Client()
    browser.force_login(user)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={session}".encode()


def handshake(user, origin: str, path: str = "/ws/containers/") -> tuple[bool, int | None]:
    cookie = alices_cookie(user)

    async def connect():
        socket = WebsocketCommunicator(
            application,
            path,
            headers=[
                (b"host", b"127.0.0.1:8000"),
                (b"origin", origin.encode()),
                (b"cookie", cookie),
            ],
        )
        answer = await socket.connect(timeout=5)
        if answer[0]:
            await socket.disconnect()
        return answer

    return async_to_sync(connect)()


@pytest.fixture(autouse=True)
def dashboard_at_port_8000(settings):
    settings.DOCKYARD_ALLOWED_HOSTS = ["127.0.0.1:8000", "localhost:8000"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:8081",
        "http://localhost:8081",
        "http://127.0.0.1",
        "http://evil.example:8000",
        "null",
    ],
)
def test_a_page_from_another_origin_cannot_open_alices_socket(alice, origin):
    container = make_container(alice, "alices-shell", status="running")
    assert handshake(alice, origin) == (False, 4403)
    assert handshake(alice, origin, f"/ws/containers/{container.id}/terminal/") == (False, 4403)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [DASHBOARD, "http://localhost:8000", "HTTP://LOCALHOST:8000"])
def test_the_dashboards_own_pages_open_it(alice, origin):
    assert handshake(alice, origin) == (True, None)


def test_the_default_names_the_port_the_web_process_serves():
    from dockyard.settings import _dashboard_hosts

    hosts = _dashboard_hosts()
    port = settings.DOCKYARD_REGISTRY.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}" in hosts and f"localhost:{port}" in hosts
    assert origin_allowed(f"http://localhost:{port}", hosts)
    assert not origin_allowed(f"http://localhost:{int(port) + 1}", hosts)
    assert origin_allowed("https://dockyard.example", ["dockyard.example"])
    assert not origin_allowed("https://dockyard.example:8443", ["dockyard.example"])
