"""Detach keys: the key sequence that ends a client's attach or exec and leaves it running.

Docker's rules, so that clients behave as they do against dockerd: the sequence counts only
with a tty, and only typed a key per read, as a person types it (moby/term's escape proxy);
a read that holds more than the next key, as a paste does, passes on whole, keys held back
before it included. The docker CLI watches its own terminal the same way and leaves by
itself, so what the platform sees of a CLI is its hang-up; a client of the API that sends the
keys is detached here.
"""

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
# "ctrl-@" is 0, "ctrl-a" 1 ... "ctrl-_" 31, as moby/term names them.
_CONTROL_NAMES = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(text: str) -> bytes:
    """Docker's `--detach-keys` format: comma-separated single characters or `ctrl-<x>`."""
    codes = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            codes += key.encode()[:1]
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CONTROL_NAMES:
            codes.append(_CONTROL_NAMES.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class EscapeProxy:
    """Watches a client's input, one read at a time, for the detach sequence."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys or DEFAULT_DETACH_KEYS
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """What of one read goes on to the container, and whether the client detached."""
        if len(data) == 1 and data[0] == self._keys[self._matched]:
            if self._matched == len(self._keys) - 1:
                self._matched = 0
                return b"", True
            self._matched += 1
            return b"", False
        held, self._matched = self._keys[: self._matched], 0
        return held + data, False
