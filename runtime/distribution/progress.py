"""Progress of a pull or push, one event per layer step, for the caller to render."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """`id` is a layer's short digest (or a tag); `current`/`total` are bytes when known."""

    id: str
    status: str
    current: int = 0
    total: int = 0


Progress = Callable[[ProgressEvent], None]


def ignore(event: ProgressEvent) -> None:
    return None


def short_id(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
