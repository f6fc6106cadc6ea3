"""The network layer's persistent state, read and written under one exclusive file lock.

Every change to networks, endpoints, addresses or published ports happens inside
`NetworkState.locked()`, so several processes (workers, the node agent) on one node
never hand out the same address or port twice.
"""

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.files import write_json_atomic

_FILES = ("networks", "endpoints", "ipam")
# Endpoints and addresses describe network namespaces, which a host reboot takes away; a
# crashed process leaves its writes in the page cache. Only network definitions must survive
# a power loss, so only they pay an fsync (two per container start and removal otherwise).
_DURABLE = frozenset({"networks"})


@dataclass
class Snapshot:
    """The whole state; `networks` by id, `endpoints` by container id, `ipam` by network id."""

    networks: dict[str, Any] = field(default_factory=dict)
    endpoints: dict[str, Any] = field(default_factory=dict)
    ipam: dict[str, Any] = field(default_factory=dict)


class NetworkState:
    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def read(self) -> Snapshot:
        """A consistent copy of the state, for read-only callers."""
        with self.locked() as snap:
            return snap

    @contextlib.contextmanager
    def locked(self) -> Iterator[Snapshot]:
        """Yield the state under the lock; write it back if the block finishes without error."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # flock (not lockf) so threads of one process also exclude each other:
        # the lock belongs to the open file description, and each call opens its own.
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            before = {name: self._load(name) for name in _FILES}
            snap = Snapshot(**json.loads(json.dumps(before)))
            yield snap
            for name in _FILES:
                if getattr(snap, name) != before[name]:
                    self._store(name, getattr(snap, name))
        finally:
            os.close(fd)

    def _load(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return {}

    def _store(self, name: str, data: dict[str, Any]) -> None:
        write_json_atomic(self._path(name), data, durable=name in _DURABLE)
