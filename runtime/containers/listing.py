"""The dashboard's file browser: the entries of a directory in a container."""

import os
import stat
from dataclasses import dataclass

from runtime import safefs
from runtime.containers.pathlookup import container_path, open_place
from runtime.errors import InvalidInput
from runtime.paths import RuntimePaths


@dataclass
class DirEntry:
    name: str
    mode: int
    size: int
    link_target: str


def list_directory(paths: RuntimePaths, cid: str, path: str, limit: int) -> list[DirEntry]:
    """The first `limit` entries (by name) of the directory `path`, for the file browser."""
    path = container_path(path)
    place, fd = open_place(paths, cid, path, follow_last=True)
    place.close()
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path} is not a directory")
        listing = safefs.open_dir(fd)
        try:
            names = sorted(os.listdir(listing))[:limit]
        finally:
            os.close(listing)
        found = []
        for name in names:
            try:
                entry = safefs.child(fd, name)
            except OSError:
                continue
            try:
                st = os.fstat(entry)
                link = safefs.readlink(entry) if stat.S_ISLNK(st.st_mode) else ""
            finally:
                os.close(entry)
            found.append(DirEntry(name=name, mode=st.st_mode, size=st.st_size, link_target=link))
        return found
    finally:
        os.close(fd)
