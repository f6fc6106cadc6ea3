"""Requests a registry client makes, for the tests."""

import asyncio
import base64
import hashlib
import json

from django.test import Client

from dockyard.asgi import application
from registry_app import manifests

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def basic(username: str, password: str = "pw-secret-1") -> dict:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def token(client: Client, who: dict, *scopes: str) -> str:
    query = "&".join(f"scope={s}" for s in scopes)
    response = client.get(f"/auth/token?service=dockyard&{query}", **who)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def push_blob(client: Client, name: str, data: bytes, who: dict) -> str:
    digest = digest_of(data)
    response = client.post(
        f"/v2/{name}/blobs/uploads/?digest={digest}",
        data=data,
        content_type="application/octet-stream",
        **who,
    )
    assert response.status_code == 201, response.content
    return digest


def image_manifest(config: bytes, layers: list[bytes], **extra) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": manifests.OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(body).encode()


def push_image(client: Client, name: str, tag: str, who: dict, layer: bytes = b"layer") -> str:
    """Push a one-layer OCI image; returns its manifest digest."""
    config = b'{"architecture":"amd64","os":"linux"}'
    push_blob(client, name, config, who)
    push_blob(client, name, layer, who)
    body = image_manifest(config, [layer])
    response = client.put(
        f"/v2/{name}/manifests/{tag}", data=body, content_type=manifests.OCI_MANIFEST, **who
    )
    assert response.status_code == 201, response.content
    return digest_of(body)


def error_code(response) -> str:
    return response.json()["errors"][0]["code"]


async def asgi_call(method: str, path: str, messages, who: dict) -> tuple[int, dict[str, str]]:
    """One request through the ASGI app; `messages` is an async iterator of receive() answers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", who["HTTP_AUTHORIZATION"].encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    answer: dict = {}
    ended = asyncio.Event()

    async def receive():
        try:
            return await anext(messages)
        except StopAsyncIteration:
            await ended.wait()
            return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif not message.get("more_body", False):
            ended.set()

    await asyncio.wait_for(application(scope, receive, send), 30)
    return answer["status"], answer["headers"]


async def no_body():
    yield {"type": "http.request", "body": b"", "more_body": False}
