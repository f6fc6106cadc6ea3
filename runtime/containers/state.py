"""A container's state machine and its record on disk (`state.json` in the bundle)."""

import json
import time
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path

from runtime.errors import NotFound
from runtime.files import write_json_atomic
from runtime.paths import RuntimePaths

ZERO_TIME = "0001-01-01T00:00:00Z"


class Status(StrEnum):
    created = "created"
    running = "running"
    paused = "paused"
    restarting = "restarting"
    exited = "exited"
    removing = "removing"
    dead = "dead"


def now_rfc3339(ns: int | None = None) -> str:
    """RFC 3339 in UTC with nanoseconds, as Docker reports container times."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


@dataclass
class ContainerState:
    id: str
    status: Status = Status.created
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    created_at: str = ZERO_TIME
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    error: str = ""
    conmon_pid: int = 0
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    restart_count: int = 0

    @property
    def running(self) -> bool:
        return self.status in (Status.running, Status.paused)

    def can_start(self) -> bool:
        return self.status in (Status.created, Status.exited)

    def can_stop(self) -> bool:
        return self.status in (Status.running, Status.paused)

    def can_kill(self) -> bool:
        return self.status in (Status.running, Status.paused)

    def can_pause(self) -> bool:
        return self.status == Status.running

    def can_unpause(self) -> bool:
        return self.status == Status.paused

    def can_remove(self, force: bool) -> bool:
        return force or self.status not in (Status.running, Status.paused, Status.restarting)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerState":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values.get("status", "created"))
        return cls(**values)


def state_file(paths: RuntimePaths, cid: str) -> Path:
    return paths.container(cid) / "state.json"


def save_state(paths: RuntimePaths, state: ContainerState, durable: bool = False) -> None:
    """Run-state changes are atomic but not synced: a host crash ends every container
    anyway, and reconcile rebuilds run state from conmon's files. Creation is synced."""
    write_json_atomic(state_file(paths, state.id), state.to_dict(), durable=durable)


def load_state(paths: RuntimePaths, cid: str) -> ContainerState:
    try:
        with open(state_file(paths, cid)) as f:
            return ContainerState.from_dict(json.load(f))
    except FileNotFoundError:
        raise NotFound(f"No such container: {cid}") from None
