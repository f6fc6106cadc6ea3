"""Websockets refuse outsiders and close when their user's password changes; a slow page
holds up the stream it reads, and a socket that fails still ends its stream."""

import asyncio
import json

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


class FakeStream:
    """An agent stream made up here: `frames` of output, then its end."""

    def __init__(self, frames: int, size: int = 16 * 1024, then_wait: bool = False):
        self.frames_left, self.size, self.then_wait = frames, size, then_wait
        self.produced = 0
        self.cancelled = False

    def __call__(self, node: str, kind: str, args: dict) -> "FakeStream":
        self.kind = kind
        return self

    async def open(self) -> "FakeStream":
        return self

    async def frames(self):
        number = 0
        while number < self.frames_left:
            line = f"{number:07d}\n".encode()
            data = line * (self.size // len(line))
            self.produced += len(data)
            number += 1
            yield 1, data
        if self.then_wait:
            await asyncio.Event().wait()

    async def write(self, data: bytes) -> None:
        raise RuntimeError("the node refused the input")

    async def cancel(self) -> None:
        self.cancelled = True


class SlowPage:
    """The ASGI side of a browser that reads nothing until `reading` is set: like uvicorn's
    send, which waits while the connection's write buffer is full."""

    def __init__(self):
        self.incoming: asyncio.Queue = asyncio.Queue()
        self.reading = asyncio.Event()
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        return await self.incoming.get()

    async def send(self, message: dict) -> None:
        if message["type"] == "websocket.send":
            await self.reading.wait()
        self.sent.append(message)


def socket_scope(user, path: str, query: bytes = b"") -> dict:
    return {"type": "websocket", "path": path, "query_string": query, "headers": [],
            "subprotocols": [], "user": user}  # fmt: skip


async def until(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "gave up waiting"
        await asyncio.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_slow_page_holds_up_the_log_stream_and_then_gets_all_of_it(alice, monkeypatch):
    from webui import consumers

    stream = FakeStream(frames=512)  # 8 MiB of numbered lines
    monkeypatch.setattr(consumers, "Stream", stream)

    async def body():
        c = await sync_to_async(make_container)(alice, status="running")
        page = SlowPage()
        app = asyncio.create_task(
            URLRouter(websocket_urlpatterns)(
                socket_scope(alice, f"/ws/containers/{c.id}/logs/", b"tail=all"),
                page.receive,
                page.send,
            )
        )
        await page.incoming.put({"type": "websocket.connect"})
        await until(lambda: stream.produced > 0)
        for _ in range(500):
            await asyncio.sleep(0)
        # One batch on its way to the page and at most one more waiting: not 8 MiB.
        assert stream.produced <= 2 * consumers.LOG_BATCH + 2 * stream.size

        page.reading.set()
        await until(lambda: page.sent[-1]["type"] == "websocket.close")
        logs = [json.loads(m["text"]) for m in page.sent if m["type"] == "websocket.send"]
        text = "".join(chunk[1] for m in logs for chunk in m["chunks"])
        lines = "".join(f"{n:07d}\n" * (stream.size // 8) for n in range(512))
        assert text == lines
        assert len(logs) <= stream.produced // consumers.LOG_BATCH + 20
        await page.incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(app, 10)
        assert stream.cancelled

    async_to_sync(body)()


@pytest.mark.django_db(transaction=True)
def test_a_terminal_whose_handler_fails_still_ends_its_stream(alice, monkeypatch):
    from webui import consumers

    stream = FakeStream(frames=0, then_wait=True)
    monkeypatch.setattr(consumers, "Stream", stream)

    async def body():
        c = await sync_to_async(make_container)(alice, status="running")
        page = SlowPage()
        page.reading.set()
        path = f"/ws/containers/{c.id}/terminal/"
        app = asyncio.create_task(
            URLRouter(websocket_urlpatterns)(
                socket_scope(alice, path, b"mode=attach"), page.receive, page.send
            )
        )
        await page.incoming.put({"type": "websocket.connect"})
        await until(lambda: page.sent and page.sent[0]["type"] == "websocket.accept")
        await page.incoming.put({"type": "websocket.receive", "bytes": b"ls\n"})
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(app, 10)
        assert stream.cancelled

    async_to_sync(body)()
