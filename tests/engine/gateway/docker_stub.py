"""Just enough of the Engine API for the docker CLI and docker-py to talk to the gateway."""

import asyncio
import json
import re

API_VERSION = "1.47"
SERVER_VERSION = "0.1.0-gateway-stub"
CONTAINER = "c0ffee" * 10 + "c0ff"

_VERSIONED = re.compile(r"^/v[0-9.]+")


class DockerStub:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        path = _VERSIONED.sub("", scope["path"])
        self.requests.append((scope["method"], path))
        if path == "/_ping":
            await self._send(send, 200, b"OK", b"text/plain")
        elif path == "/version":
            await self._json(send, 200, _version())
        elif path == f"/containers/{CONTAINER}/json":
            await self._json(send, 200, _container())
        elif path == f"/containers/{CONTAINER}/wait":
            await asyncio.sleep(0.2)
            await self._json(send, 200, {"StatusCode": 0})
        elif path == f"/containers/{CONTAINER}/attach":
            spec = json.dumps({"container": CONTAINER, "multiplexed": True}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 101,
                    "headers": [(b"x-dockyard-hijack", spec)],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            await self._json(send, 404, {"message": f"page not found: {path}"})

    async def _json(self, send, status, payload) -> None:
        await self._send(send, status, json.dumps(payload).encode(), b"application/json")

    async def _send(self, send, status, body, content_type) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"api-version", API_VERSION.encode()),
            (b"ostype", b"linux"),
            (b"server", f"Docker/{SERVER_VERSION} (linux)".encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def shout_stdin(spec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """Reads stdin to EOF, answers it upper-cased as a stdout frame of Docker's stream format."""
    data = await reader.read()
    payload = data.upper()
    writer.write(b"\x01\x00\x00\x00" + len(payload).to_bytes(4, "big") + payload)
    await writer.drain()


def _version() -> dict:
    return {
        "Platform": {"Name": "Dockyard"},
        "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": {}}],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.24",
        "GitCommit": "0000000",
        "GoVersion": "none",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1",
        "BuildTime": "2025-01-01T00:00:00.000000000+00:00",
    }


def _container() -> dict:
    return {
        "Id": CONTAINER,
        "Name": "/stub",
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False},
        "Config": {"Tty": False, "OpenStdin": True, "AttachStdin": True},
        "HostConfig": {},
    }
