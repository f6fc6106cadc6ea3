"""An ICMP echo sent with the Don't Fragment bit, from inside a network namespace.

busybox's ping has no option for it; this sends one echo of `size` payload bytes through a
raw socket set to IP_PMTUDISC_DO, so a packet too big for any link on the way is refused
instead of fragmented.
"""

import subprocess
import sys

_PING = """
import os, select, socket, struct, sys
dst, size = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER, IP_PMTUDISC_DO
ident = os.getpid() & 0xFFFF
payload = bytes(size)
def checksum(data):
    data += b"\\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, 1) + payload
s.sendto(packet, (dst, 0))
while select.select([s], [], [], 3)[0]:
    data = s.recv(65535)
    kind, _, _, got, _ = struct.unpack("!BBHHH", data[20:28])
    if kind == 0 and got == ident:
        print(len(data) - 28)
        sys.exit(0)
sys.exit(1)
"""


def df_ping(ns_path: str, address: str, size: int) -> bool:
    """True when an echo of `size` bytes with DF set comes back whole."""
    done = subprocess.run(
        ["nsenter", f"--net={ns_path}", sys.executable, "-c", _PING, address, str(size)],
        capture_output=True,
        text=True,
        timeout=15,
    )
    return done.returncode == 0 and done.stdout.strip() == str(size)
