"""mallory, without credentials, sends huge bodies to fill the server's disk.

Through the web process's ASGI app (what uvicorn runs): each request announces a body far
larger than anything a sign-in needs, and the test counts how much of it gets read.
"""

import asyncio
import hashlib
import json

import pytest

from accounts.services import do_create_token
from dockyard.asgi import application
from tests.registry_app.helpers import basic

HUGE = 10 * 1024**3
LIMIT = 64 * 1024


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.DOCKYARD_ANONYMOUS_BODY_LIMIT = LIMIT
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Sender:
    """A client that sends `total` bytes in 16 KiB pieces, as fast as they are asked for."""

    def __init__(self, total: int, piece: bytes = b"x" * 16384):
        self.total, self.piece, self.sent = total, piece, 0

    async def receive(self):
        if self.sent >= self.total:
            await asyncio.sleep(3600)
        chunk = self.piece[: self.total - self.sent]
        self.sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.sent < self.total}


async def request(method, target, sender: Sender, headers: dict[str, str]):
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.66", 40000),
        "server": ("127.0.0.1", 8000),
    }
    answer: dict = {"body": b""}
    done = asyncio.Event()

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")
            if not message.get("more_body", False):
                done.set()

    app = asyncio.create_task(application(scope, sender.receive, send))
    await asyncio.wait_for(done.wait(), 30)
    app.cancel()
    return answer


def run(method, path, sender, **headers):
    return asyncio.run(request(method, path, sender, headers))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/v1.47/images/load", "/v1.47/build", "/login/", "/auth/token"])
def test_a_huge_body_without_credentials_is_refused_unread(path):
    sender = Sender(HUGE)
    answer = run("POST", path, sender, **{"Content-Length": str(HUGE)})
    assert answer["status"] == 413
    assert "needs credentials" in json.loads(answer["body"])["message"]
    assert sender.sent == 0


@pytest.mark.django_db(transaction=True)
def test_a_huge_body_with_a_wrong_token_is_refused_unread():
    sender = Sender(HUGE)
    answer = run(
        "POST",
        "/v1.47/images/load",
        sender,
        **{"Content-Length": str(HUGE), "Authorization": "Bearer dyp_000000000000nonsense"},
    )
    assert answer["status"] == 401
    assert json.loads(answer["body"]) == {"message": "invalid credentials"}
    assert sender.sent == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_without_credentials_stops_at_the_limit():
    sender = Sender(HUGE)
    answer = run("POST", "/v1.47/images/load", sender, **{"Transfer-Encoding": "chunked"})
    assert answer["status"] == 413
    assert LIMIT < sender.sent <= LIMIT + 16384


@pytest.mark.django_db(transaction=True)
def test_a_small_anonymous_body_still_reaches_its_view():
    sender = Sender(200, b"grant_type=password&username=nobody&password=x&pad=" + b"p" * 200)
    answer = run(
        "POST",
        "/auth/token",
        sender,
        **{"Content-Length": "200", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer["status"] == 401
    assert json.loads(answer["body"]) == {"error": "invalid_grant"}


@pytest.mark.django_db(transaction=True)
def test_alices_token_may_send_a_large_body(alice):
    _, secret = do_create_token(alice, "cli", ["read", "write"])
    sender = Sender(LIMIT * 4)
    answer = run(
        "POST",
        "/v1.47/images/load",
        sender,
        **{"Content-Length": str(LIMIT * 4), "Authorization": f"Bearer {secret}"},
    )
    assert answer["status"] not in (401, 413), answer


@pytest.mark.django_db(transaction=True)
def test_a_registry_blob_upload_streams_with_its_bearer_token(alice):
    from django.test import Client

    client = Client()
    token = client.get(
        "/auth/token?service=dockyard&scope=repository:alice/app:pull,push", **basic("alice")
    ).json()["token"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    location = client.post("/v2/alice/app/blobs/uploads/", **bearer)["Location"]
    size = LIMIT * 4
    sender = Sender(size)
    digest = "sha256:" + hashlib.sha256(b"x" * size).hexdigest()
    answer = run(
        "PUT",
        f"{location}?digest={digest}",
        sender,
        **{"Content-Length": str(size), "Authorization": f"Bearer {token}"},
    )
    assert answer["status"] == 201, answer
    assert sender.sent == size
