"""What `docker diff` prints: paths an overlay upperdir adds, changes or deletes.

The upperdir is a running container's, walked while it may rename its directories and put
symlinks in their place, so it is read with runtime.safefs: fd-relative, one component at a
time, never following a symlink (a `d -> /` swapped in mid-walk is listed as the symlink it
is, not walked into the host). The image's lower layers are looked up the same way: they
hold whatever symlinks the image shipped, which must not lead a lookup out of the layer.
"""

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime import safefs
from runtime.layers.export import is_opaque, is_whiteout

MODIFIED, ADDED, DELETED = 0, 1, 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: int


def changes(upperdir: Path, lowerdirs: list[Path], hidden: Iterable[str] = ()) -> list[Change]:
    """Changes in `upperdir` over `lowerdirs` (top-most first), sorted by path.

    Like `docker diff`, the directories holding a change are listed as modified, and
    a directory that is only in the upperdir because overlay copied it up is not listed
    for itself. The `hidden` paths are left out, and so are the directories holding them
    when nothing else changed below: Docker keeps the files it mounts over the image's
    (`/etc/hosts`...) in a layer of their own that `docker diff` does not read, so they and
    the `/etc` the runtime touched to make their mount points are no change of the user's.
    """
    found: dict[str, int] = {}
    with contextlib.ExitStack() as fds:
        upper = safefs.open_root(Path(upperdir))
        fds.callback(os.close, upper)
        lowers = []
        for d in lowerdirs:
            lowers.append(safefs.open_root(Path(d)))
            fds.callback(os.close, lowers[-1])
        _scan(upper, lowers, found)
    _hide(found, set(hidden))
    for path in list(found):
        parent = path.rpartition("/")[0]
        while parent and parent not in found:
            found[parent] = MODIFIED
            parent = parent.rpartition("/")[0]
    return [Change(path=p, kind=k) for p, k in sorted(found.items())]


def _hide(found: dict[str, int], hidden: set[str]) -> None:
    for path in hidden:
        found.pop(path, None)
    holders = {p.rpartition("/")[0] for p in hidden}
    for holder in sorted({h for h in holders if h}, key=len, reverse=True):
        inside = holder + "/"
        if not any(p.startswith(inside) for p in found):
            found.pop(holder, None)


def _scan(upper: int, lowers: list[int], found: dict[str, int]) -> None:
    # Whether the lower layers show through each directory walked so far ("" is the root):
    # not below a directory the lowers lack, nor below an opaque one.
    lower_visible = {"": True}
    for entry in safefs.walk(upper):
        rel, st = entry.rel, entry.st
        path = "/" + rel
        lower = _lower_stat(lowers, rel) if lower_visible[rel.rpartition("/")[0]] else None
        if is_whiteout(st):
            if lower is not None:
                found[path] = DELETED
            continue
        opaque = stat.S_ISDIR(st.st_mode) and is_opaque(entry.fd)
        if lower is None:
            found[path] = ADDED
        elif _modified(st, lower, opaque):
            found[path] = MODIFIED
        if stat.S_ISDIR(st.st_mode):
            lower_visible[rel] = lower is not None and not opaque


def _modified(st: os.stat_result, lower: os.stat_result, opaque: bool) -> bool:
    """Anything but a directory in the upperdir is a change; a directory only if it differs."""
    if not (stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(lower.st_mode)):
        return True
    return _dir_meta(st) != _dir_meta(lower) or opaque


def _dir_meta(st: os.stat_result) -> tuple:
    return (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))


def _lower_stat(lowers: list[int], rel: str) -> os.stat_result | None:
    """The entry at `rel` as the merged lower layers show it, or None if hidden or absent."""
    *parents, name = rel.split("/")
    for lower in lowers:
        with contextlib.ExitStack() as fds:
            current = lower
            hidden_below = False
            missing = False
            for part in parents:
                try:
                    current = safefs.child(current, part)
                except FileNotFoundError:
                    missing = True
                    break
                fds.callback(os.close, current)
                if not stat.S_ISDIR(os.fstat(current).st_mode):
                    # A file, symlink or whiteout here hides everything below it, in this
                    # layer and the ones under it.
                    return None
                if is_opaque(current):
                    hidden_below = True
            if not missing:
                try:
                    st = os.stat(name, dir_fd=current, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    return None if is_whiteout(st) else st
            if hidden_below:
                return None
    return None
