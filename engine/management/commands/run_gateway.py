import asyncio
import signal
import socket
from pathlib import Path

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.gateway import GatewayServer
from engine.gateway.admin_ping import answer_admin_pings


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(value)
    return host.strip("[]") or "0.0.0.0", int(port)


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket left by a gateway that died; refuse to steal a live one."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_socket():
        raise CommandError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise CommandError(f"another engine gateway is serving {path}")


async def _run_hijacked(spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    # Imported on first use so the gateway starts without loading the stream relay.
    from engine.streams.client import run_hijacked

    await run_hijacked(spec, reader, writer)


class Command(BaseCommand):
    help = "Serve the Docker Engine API on the node's unix socket, and on TCP if asked."

    def add_arguments(self, parser):
        parser.add_argument(
            "--socket",
            type=Path,
            default=settings.DOCKYARD_ENGINE_SOCKET,
            help="unix socket path (default: DOCKYARD_ENGINE_SOCKET)",
        )
        parser.add_argument(
            "--tcp",
            type=_host_port,
            metavar="HOST:PORT",
            help="also listen on TCP; clients there must authenticate",
        )

    def handle(self, *args, **options):
        path: Path = options["socket"]
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(path)
        uvloop.run(self._serve(path, options["tcp"]))

    async def _serve(self, path: Path, tcp: tuple[str, int] | None) -> None:
        from channels.routing import get_default_application

        # The project's ASGI app, by the name settings give it: apps do not import dockyard/.
        application = get_default_application()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        gateway = GatewayServer(answer_admin_pings(application), _run_hijacked)
        try:
            await gateway.serve_unix(path)
            self.stdout.write(f"engine API on unix://{path}")
            if tcp is not None:
                host, port = await gateway.serve_tcp(*tcp)
                self.stdout.write(f"engine API on tcp://{host}:{port}")
            await stop.wait()
        finally:
            gateway.close()
            await gateway.wait_closed()
