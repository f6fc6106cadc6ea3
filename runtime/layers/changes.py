"""What `docker diff` prints: paths an overlay upperdir adds, changes or deletes."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from runtime.layers.export import is_opaque, is_whiteout

MODIFIED, ADDED, DELETED = 0, 1, 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: int


def changes(upperdir: Path, lowerdirs: list[Path]) -> list[Change]:
    """Changes in `upperdir` over `lowerdirs` (top-most first), sorted by path.

    Like `docker diff`, the directories holding a change are listed as modified, and
    a directory that is only in the upperdir because overlay copied it up is not listed
    for itself.
    """
    found: dict[str, int] = {}
    _scan(Path(upperdir), [Path(d) for d in lowerdirs], "", found, lower_visible=True)
    for path in list(found):
        parent = path.rpartition("/")[0]
        while parent and parent not in found:
            found[parent] = MODIFIED
            parent = parent.rpartition("/")[0]
    return [Change(path=p, kind=k) for p, k in sorted(found.items())]


def _scan(
    upper: Path, lowers: list[Path], rel: str, found: dict[str, int], lower_visible: bool
) -> None:
    with os.scandir(upper / rel if rel else upper) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        path = "/" + child
        st = entry.stat(follow_symlinks=False)
        lower = _lower_stat(lowers, child) if lower_visible else None
        if is_whiteout(st):
            if lower is not None:
                found[path] = DELETED
            continue
        if lower is None:
            found[path] = ADDED
        elif _modified(st, lower, Path(entry.path)):
            found[path] = MODIFIED
        if entry.is_dir(follow_symlinks=False):
            visible = lower is not None and not is_opaque(Path(entry.path))
            _scan(upper, lowers, child, found, lower_visible=visible)


def _modified(st: os.stat_result, lower: os.stat_result, path: Path) -> bool:
    """Anything but a directory in the upperdir is a change; a directory only if it differs."""
    if not (stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(lower.st_mode)):
        return True
    return _dir_meta(st) != _dir_meta(lower) or is_opaque(path)


def _dir_meta(st: os.stat_result) -> tuple:
    return (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))


def _lower_stat(lowers: list[Path], rel: str) -> os.stat_result | None:
    """The entry at `rel` as the merged lower layers show it, or None if hidden or absent."""
    parts = rel.split("/")
    for lower in lowers:
        hidden_by_parent = False
        current = lower
        for part in parts[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                break
            if not stat.S_ISDIR(st.st_mode):
                hidden_by_parent = True
                break
            if is_opaque(current):
                hidden_by_parent = True
        try:
            st = os.lstat(lower / rel)
        except (FileNotFoundError, NotADirectoryError):
            if hidden_by_parent:
                return None
            continue
        return None if is_whiteout(st) else st
    return None
