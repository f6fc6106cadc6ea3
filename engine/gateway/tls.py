"""TLS connections whose client may stop sending and go on reading, as over plain TCP.

The docker CLI ends the stdin of an attach or exec (at once, when it has none) with Go's
`tls.Conn.CloseWrite`: a close_notify alert, after which it still reads the command's output.
TLS 1.3 allows that (RFC 8446, 6.1), but asyncio's and uvloop's TLS transports take any
close_notify for the end of the connection: they drop every later write, and the output is
lost. A context whose `sslobject_class` (a documented hook of `ssl.SSLContext`) is
`HalfClosingSSLObject` keeps the close_notify from the transport once `watch_close_notify`
was called for the connection, and hands it to the protocol as a TCP half-close is handed:
`eof_received()`, and the transport closes unless that returns true.
"""

import asyncio
import ssl

_NOTHING_MORE = "the peer has sent close_notify"


class HalfClosingSSLObject(ssl.SSLObject):
    """An SSLObject that reports a close_notify to a watcher instead of to the transport."""

    _transport: asyncio.Transport | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _peer_closed = False

    def read(self, len: int = 1024, buffer: bytearray | memoryview | None = None) -> bytes | int:
        if self._peer_closed:
            # The transport reads until it is told there is no more for now: nothing can
            # follow a close_notify, and "none yet" keeps the transport from shutting down.
            raise ssl.SSLWantReadError(_NOTHING_MORE)
        try:
            data = super().read(len, buffer)
        except ssl.SSLZeroReturnError:
            data = b"" if buffer is None else 0
        if data or not len or self._transport is None:
            return data
        self._peer_closed = True
        # Later: the transport hands the protocol what it decrypted before this alert only
        # once this read loop is over.
        self._loop.call_soon(_end_of_input, self._transport)
        raise ssl.SSLWantReadError(_NOTHING_MORE)


def watch_close_notify(transport: asyncio.BaseTransport) -> None:
    """Hand this TLS connection's close_notify to its protocol like a TCP half-close.

    Does nothing for a plain connection, or one whose context uses another SSLObject class.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    if isinstance(ssl_object, HalfClosingSSLObject):
        ssl_object._transport = transport
        ssl_object._loop = asyncio.get_running_loop()


def _end_of_input(transport: asyncio.Transport) -> None:
    if transport.is_closing():
        return
    if not transport.get_protocol().eof_received():
        transport.close()
