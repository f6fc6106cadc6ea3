"""Websockets refuse outsiders and close when their user's password changes."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from webui.routing import websocket_urlpatterns

from .test_pages import make_container


def communicator(user, path: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    socket.scope["user"] = user
    return socket


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["logs", "stats", "terminal"])
def test_it_refuses_charlie_the_streams_of_alices_container(alice, charlie, kind):
    async def body():
        c = await sync_to_async(make_container)(alice)
        socket = communicator(charlie, f"/ws/containers/{c.id}/{kind}/")
        connected, code = await socket.connect()
        assert (connected, code) == (False, 4403)

    async_to_sync(body)()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_anonymous_visitors():
    async def body():
        socket = communicator(AnonymousUser(), "/ws/containers/")
        assert await socket.connect() == (False, 4403)

    async_to_sync(body)()


@pytest.mark.django_db(transaction=True)
def test_it_closes_every_socket_of_a_user_whose_password_changes(alice):
    async def body():
        socket = communicator(alice, "/ws/containers/")
        connected, _ = await socket.connect()
        assert connected

        def change():
            alice.set_password("another-pw-2")
            alice.save()

        await sync_to_async(change)()
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}

    async_to_sync(body)()


@pytest.mark.django_db(transaction=True)
def test_it_sends_bob_a_new_row_when_a_team_container_changes(alice, acme):
    async def body():
        bob = await sync_to_async(lambda: acme.memberships.get(role="write").user)()
        socket = communicator(bob, "/ws/containers/")
        assert (await socket.connect())[0]
        c = await sync_to_async(make_container)(alice, "teamweb")

        from channels.layers import get_channel_layer

        from engine.events import ALL, make_event

        event = make_event("container", "create", c.id, {"name": c.name})
        await get_channel_layer().group_send(ALL, {"type": "engine.event", "event": event})
        message = await socket.receive_json_from(timeout=5)
        assert message["kind"] == "row"
        assert message["row"]["name"] == "teamweb"
        await socket.disconnect()

    async_to_sync(body)()
