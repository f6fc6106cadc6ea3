"""The web process: the ASGI app served by uvicorn on uvloop, optionally over TLS.

    python -m dockyard.web --host 127.0.0.1 --port 8000 [--tls-key K --tls-cert C]

uvicorn hands a request body to the app as it arrives and stops reading the socket while
the app is behind, so a pushed layer streams to disk with bounded memory.
"""

import argparse
import ssl
from collections.abc import Callable

import uvicorn


def client_cipher_order(
    config: uvicorn.Config, default: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn's TLS context, except that the client's cipher order wins, as with Go's servers.

    A client with AES hardware asks for AES-128-GCM and one without for ChaCha20; OpenSSL's
    own order puts AES-256-GCM first, about 15 % more work per byte on both ends of a layer
    download (openssl speed on a 2-vCPU EPYC: 3.4 against 3.0 GB/s).
    """
    context = default()
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


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
        "dockyard.asgi:application",
        host=args.host,
        port=args.port,
        ssl_keyfile=args.tls_key,
        ssl_certfile=args.tls_cert,
        ssl_context_factory=client_cipher_order if args.tls_cert else None,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # The app is Channels' router, which has no lifespan protocol.
        lifespan="off",
        # Nothing proxies in front by default: a client's X-Forwarded-For is not to be trusted.
        proxy_headers=False,
        server_header=False,
        access_log=args.access_log,
        # Followed logs and event streams never end by themselves; give them 3 s, not forever.
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
