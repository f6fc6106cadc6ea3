"""The engine gateway: Docker's Engine API over a unix socket or TCP, served by an ASGI app.

ASGI servers cannot hand a connection over to raw streaming, which `docker attach` and
`docker exec` need; this server runs the app in-process and can (see `connection.py`).
"""

import asyncio
import os
import socket
from pathlib import Path

from .connection import ASGIApp, HijackHandler, HttpConnection

BACKLOG = 512


class GatewayServer:
    """Listens on any number of sockets; every connection is served by the same app.

    `serve_unix` and `serve_tcp` return once the socket listens; `close` stops listening and
    drops open connections.
    """

    def __init__(self, app: ASGIApp, hijack_handler: HijackHandler) -> None:
        self._app = app
        self._hijack_handler = hijack_handler
        self._servers: list[asyncio.Server] = []
        self._unix_paths: list[tuple[Path, int]] = []
        self._connections: set[HttpConnection] = set()

    def _factory(self, kind: str):
        return lambda: HttpConnection(self._app, self._hijack_handler, kind, self._connections)

    async def serve_unix(self, path: Path, mode: int = 0o660) -> None:
        path = Path(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            # Before listen(): until then nobody can connect, whatever the umask allowed.
            os.chmod(path, mode)
            server = await asyncio.get_running_loop().create_unix_server(
                self._factory("unix"), sock=sock, backlog=BACKLOG
            )
        except BaseException:
            sock.close()
            raise
        self._servers.append(server)
        self._unix_paths.append((path, path.stat().st_ino))

    async def serve_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on host:port (port 0 picks one); returns the address bound."""
        server = await asyncio.get_running_loop().create_server(
            self._factory("tcp"), host, port, backlog=BACKLOG
        )
        self._servers.append(server)
        return server.sockets[0].getsockname()[:2]

    def close(self) -> None:
        for server in self._servers:
            server.close()
        for path, inode in self._unix_paths:
            # Another gateway may have taken the path over since; leave its socket alone.
            try:
                if path.stat().st_ino == inode:
                    path.unlink()
            except FileNotFoundError:
                pass
        self._unix_paths.clear()
        for connection in list(self._connections):
            if connection.task is not None:
                connection.task.cancel()

    async def wait_closed(self) -> None:
        tasks = [c.task for c in list(self._connections) if c.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
