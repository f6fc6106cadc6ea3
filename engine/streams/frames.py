"""Docker's stdcopy framing for streams without a tty: an 8-byte header per frame."""

import struct

STDIN, STDOUT, STDERR = 0, 1, 2


def frame(fd: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", fd, len(data)) + data
