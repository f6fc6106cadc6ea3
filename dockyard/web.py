"""The web process: the ASGI app served by uvicorn on uvloop, optionally over TLS.

    python -m dockyard.web --host 127.0.0.1 --port 8000 [--tls-key K --tls-cert C]

uvicorn hands a request body to the app as it arrives and stops reading the socket while
the app is behind, so a pushed layer streams to disk with bounded memory. The Engine API's
hijacked streams (attach, exec) are served here too, by the HTTP protocol of
`engine.gateway.web_protocol`.
"""

import argparse
import ssl
from collections.abc import Callable
from typing import Any

import uvicorn

from engine.gateway.tls import HalfClosingSSLObject
from engine.gateway.web_protocol import HijackingHttpToolsProtocol

APP = "dockyard.asgi:application"


def tls_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's TLS context, with two changes.

    The client's cipher order wins, as with Go's servers: a client with AES hardware asks for
    AES-128-GCM and one without for ChaCha20; OpenSSL's own order puts AES-256-GCM first,
    about 15 % more work per byte on both ends of a layer download (openssl speed on a 2-vCPU
    EPYC: 3.4 against 3.0 GB/s).

    A client may end its side with close_notify and still read (see engine/gateway/tls.py):
    the docker CLI does so as soon as an attach or exec has no more stdin.
    """
    context = default()
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.sslobject_class = HalfClosingSSLObject
    return context


def web_options(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tls_key: str | None = None,
    tls_cert: str | None = None,
    access_log: bool = False,
    http: type[HijackingHttpToolsProtocol] = HijackingHttpToolsProtocol,
) -> dict[str, Any]:
    """How the web process runs uvicorn: `uvicorn.run(APP, **web_options(...))`.

    Tests serve their own app (and stream handler, in a subclass given as `http`) alike.
    """
    return {
        "host": host,
        "port": port,
        "ssl_keyfile": tls_key,
        "ssl_certfile": tls_cert,
        "ssl_context_factory": tls_context if tls_cert else None,
        "loop": "uvloop",
        "http": http,
        "ws": "websockets-sansio",
        # The app is Channels' router, which has no lifespan protocol.
        "lifespan": "off",
        # Nothing proxies in front by default: a client's X-Forwarded-For is not to be trusted.
        "proxy_headers": False,
        "server_header": False,
        "access_log": access_log,
        # Followed logs, event streams and hijacked streams never end by themselves; give
        # them 3 s, not forever.
        "timeout_graceful_shutdown": 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tls-key", help="serve HTTPS with this private key")
    parser.add_argument("--tls-cert", help="and this certificate")
    # A line per request costs the event loop about 0.4 ms: off unless asked for.
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args()
    if bool(args.tls_key) != bool(args.tls_cert):
        parser.error("--tls-key and --tls-cert go together")
    uvicorn.run(
        APP,
        **web_options(
            host=args.host,
            port=args.port,
            tls_key=args.tls_key,
            tls_cert=args.tls_cert,
            access_log=args.access_log,
        ),
    )


if __name__ == "__main__":
    main()
