"""Blob uploads through the ASGI app: the body is stored while it arrives, and a client that
leaves halfway loses nothing already stored."""

import asyncio
import os
from pathlib import Path

import pytest

from registry_app.models import Upload

from .helpers import asgi_call, basic, digest_of, no_body

DATA = os.urandom(300_000)


async def _grows_to(path: Path, size: int) -> None:
    while not path.exists() or path.stat().st_size < size:
        await asyncio.sleep(0.01)


def _staged(location: str) -> Path:
    return Path(Upload.objects.get(uuid=location.rsplit("/", 1)[1]).staged_file)


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_chunk_is_on_disk_before_the_client_sends_the_next(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    staged = _staged(location)

    async def body():
        yield {"type": "http.request", "body": DATA[:100_000], "more_body": True}
        # A server that buffered the whole body first would never get here.
        await asyncio.wait_for(_grows_to(staged, 100_000), 10)
        yield {"type": "http.request", "body": DATA[100_000:], "more_body": False}

    status, headers = asyncio.run(asgi_call("PATCH", location, body(), basic("alice")))
    assert status == 202
    assert headers["range"] == f"0-{len(DATA) - 1}"
    response = client.put(f"{location}?digest={digest_of(DATA)}", **basic("alice"))
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_client_leaving_mid_chunk_leaves_the_upload_as_it_was(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    first = client.patch(
        location, data=DATA[:1000], content_type="application/octet-stream", **basic("alice")
    )
    assert first["Range"] == "0-999"

    async def cut_off():
        yield {"type": "http.request", "body": DATA[1000:1500], "more_body": True}
        yield {"type": "http.disconnect"}

    status, _ = asyncio.run(asgi_call("PATCH", location, cut_off(), basic("alice")))
    assert status == 400
    assert client.get(location, **basic("alice"))["Range"] == "0-999"
    rest = client.patch(
        location, data=DATA[1000:], content_type="application/octet-stream", **basic("alice")
    )
    assert rest["Range"] == f"0-{len(DATA) - 1}"
    response = client.put(f"{location}?digest={digest_of(DATA)}", **basic("alice"))
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_does_not_wait_for_its_body(client, alice, charlie):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]

    async def endless():
        while True:
            yield {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    status, _ = asyncio.run(asgi_call("PATCH", location, endless(), basic("charlie")))
    assert status in (401, 403)
    assert client.get(location, **basic("alice"))["Range"] == "0-0"


@pytest.mark.django_db(transaction=True)
def test_a_stalled_upload_does_not_hold_up_other_requests(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    staged = _staged(location)
    resume = asyncio.Event()

    async def stalling():
        yield {"type": "http.request", "body": DATA[:100_000], "more_body": True}
        await resume.wait()
        yield {"type": "http.request", "body": DATA[100_000:], "more_body": False}

    async def meanwhile():
        upload = asyncio.create_task(asgi_call("PATCH", location, stalling(), basic("alice")))
        # The upload's view now waits in its thread for the rest of the body.
        await asyncio.wait_for(_grows_to(staged, 100_000), 10)
        other = await asgi_call("GET", "/v2/", no_body(), basic("alice"))
        resume.set()
        return other, await upload

    (other_status, _), (upload_status, _) = asyncio.run(meanwhile())
    assert other_status == 200
    assert upload_status == 202
