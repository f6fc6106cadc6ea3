"""A userland proxy for one published port, where a DNAT cannot serve (Docker's docker-proxy).

A connection to [::1] cannot be DNATed to a container: the kernel never lets a packet with
a loopback source leave the loopback link, and IPv6 has no route_localnet to allow it. An
IPv6 client cannot reach a container without an IPv6 address through a DNAT either. For
those this process listens on the host and relays TCP streams and UDP datagrams.

Run as a script with the standard library only (`python -I -S userland_proxy.py ...`): it
starts in about 20 ms and imports nothing of the platform. It binds first, so a port in use
fails the caller at once, then forks: the parent prints the child's pid and exits, and the
child, in a session of its own and without root, serves until it gets SIGTERM.
"""

import argparse
import os
import socket
import sys
import threading

_NOBODY = 65534
_CHUNK = 65536
# A UDP "connection" is forgotten after this long without a reply (conntrack's UDP stream
# timeout is 120 s).
_UDP_IDLE = 120.0


def _family(address: str) -> int:
    # Numeric addresses only: no resolver, whose codecs a process without root may not load.
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(_CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # The other direction may still carry a reply: close this half only.
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _relay_tcp(client: socket.socket, target: tuple[str, int]) -> None:
    upstream = socket.socket(_family(target[0]), socket.SOCK_STREAM)
    try:
        upstream.settimeout(10)
        upstream.connect(target)
    except OSError:
        client.close()
        upstream.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def serve_tcp(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay_tcp, args=(client, target), daemon=True).start()


def serve_udp(listener: socket.socket, target: tuple[str, int]) -> None:
    family = _family(target[0])
    peers: dict[tuple, socket.socket] = {}
    lock = threading.Lock()

    def replies(client: tuple, upstream: socket.socket) -> None:
        try:
            while True:
                data = upstream.recv(_CHUNK)
                listener.sendto(data, client)
        except OSError:
            pass
        finally:
            with lock:
                peers.pop(client, None)
            upstream.close()

    while True:
        data, client = listener.recvfrom(_CHUNK)
        with lock:
            upstream = peers.get(client)
            if upstream is None:
                upstream = socket.socket(family, socket.SOCK_DGRAM)
                upstream.settimeout(_UDP_IDLE)
                upstream.connect(target)
                peers[client] = upstream
                threading.Thread(target=replies, args=(client, upstream), daemon=True).start()
        try:
            upstream.send(data)
        except OSError:
            pass


def _listen(proto: str, address: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET6, kind)
    # IPv6 only: IPv4 clients of the port are the DNAT's.
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if proto == "tcp":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if proto == "tcp":
        sock.listen(128)
    return sock


def _drop_privileges() -> None:
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(_NOBODY)
        os.setuid(_NOBODY)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    # Names the process, so the platform finds its own proxies and no other process.
    parser.add_argument("--tag", required=True)
    parser.add_argument("--proto", choices=("tcp", "udp"), required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--to-port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        listener = _listen(args.proto, args.listen, args.port)
    except OSError as err:
        print(f"[{args.listen}]:{args.port}/{args.proto}: {err.strerror}", file=sys.stderr)
        return 1
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        return 0
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _drop_privileges()
    serve = serve_tcp if args.proto == "tcp" else serve_udp
    serve(listener, (args.to, args.to_port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
