"""Where COPY and ADD find their sources, and the digests their cache keys are made of.

A source tree is either files on disk (a stage or image mounted for COPY --from, or an
unpacked context) or the build context's index (runtime/build/tarindex.py), which answers
the same questions without the files being unpacked. Paths resolve as if the tree's root
were `/`: a symlink never leads out of it.
"""

import fnmatch
import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol

from runtime.build.state import BuildFailure
from runtime.build.tarindex import ContextIndex
from runtime.errors import InvalidInput

_MAX_LINKS = 40
_CHUNK = 1 << 20


class SourceTree(Protocol):
    def kind(self, rel: str) -> tuple[int, str] | None:
        """(S_IFMT of the entry, its link target) without following it; None if missing."""

    def listdir(self, rel: str) -> list[str]: ...

    def digest(self, rel: str) -> str:
        """The cache digest of the tree at `rel` (see `tree_digest`)."""


class FileTree:
    """Files on disk under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root.joinpath(*[p for p in rel.split("/") if p])

    def kind(self, rel: str) -> tuple[int, str] | None:
        path = self.path(rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        fmt = stat.S_IFMT(st.st_mode)
        return fmt, os.readlink(path) if fmt == stat.S_IFLNK else ""

    def listdir(self, rel: str) -> list[str]:
        return sorted(os.listdir(self.path(rel)))

    def digest(self, rel: str) -> str:
        hasher = hashlib.sha256()

        def add(path: Path, name: str) -> None:
            st = os.lstat(path)
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
            content = _file_digest(path) if stat.S_ISREG(st.st_mode) else ""
            _add_entry(hasher, name, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), link)
            if content:
                hasher.update(content.encode() + b"\0")
            if stat.S_ISDIR(st.st_mode):
                for child in sorted(os.listdir(path)):
                    add(path / child, f"{name}/{child}")

        add(self.path(rel), ".")
        return "sha256:" + hasher.hexdigest()


class IndexTree:
    """The build context as its index describes it: no file is read."""

    def __init__(self, index: ContextIndex) -> None:
        self.index = index

    def kind(self, rel: str) -> tuple[int, str] | None:
        entry = self.index.entry(rel)
        return None if entry is None else (entry.fmt, entry.link)

    def listdir(self, rel: str) -> list[str]:
        return self.index.listdir(rel)

    def digest(self, rel: str) -> str:
        hasher = hashlib.sha256()

        def add(path: str, name: str) -> None:
            entry = self.index.entry(path)
            _add_entry(hasher, name, entry.fmt, entry.mode, entry.link)
            if entry.fmt == stat.S_IFREG:
                hasher.update(entry.digest.encode() + b"\0")
            if entry.fmt == stat.S_IFDIR:
                for child in self.index.listdir(path):
                    add(f"{path}/{child}" if path else child, f"{name}/{child}")

        add(rel, ".")
        return "sha256:" + hasher.hexdigest()


def _add_entry(hasher, name: str, fmt: int, mode: int, link: str) -> None:
    # Times and owners are left out, as Docker leaves them out of its COPY cache keys.
    hasher.update(f"{name}\0{fmt}\0{mode}\0".encode())
    if fmt == stat.S_IFLNK:
        hasher.update(link.encode() + b"\0")


def _file_digest(path: Path) -> str:
    content = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(_CHUNK):
            content.update(chunk)
    return content.hexdigest()


def resolve(tree: SourceTree, path: str) -> str:
    """`path` with every symlink resolved as if the tree's root were `/`; "" is the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        found = tree.kind("/".join([*resolved, part]))
        if found is not None and found[0] == stat.S_IFLNK:
            hops += 1
            if hops > _MAX_LINKS:
                raise InvalidInput(f"too many levels of symbolic links in {path}")
            if found[1].startswith("/"):
                resolved = []
            parts = [p for p in found[1].split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return "/".join(resolved)


def is_dir(tree: SourceTree, rel: str) -> bool:
    found = tree.kind(rel)
    return found is not None and found[0] == stat.S_IFDIR


def match_sources(tree: SourceTree, sources: list[str], command: str) -> list[tuple[str, str]]:
    """(name as given, resolved path in `tree`) of each source; wildcards match in their
    folder."""
    matched: list[tuple[str, str]] = []
    for source in sources:
        if "://" in source:
            raise BuildFailure(f"{command} from a URL is not supported here: {source}")
        clean = os.path.normpath("/" + source).lstrip("/")
        if any(ch in clean for ch in "*?["):
            parent = os.path.dirname(clean)
            base_dir = resolve(tree, parent)
            names = tree.listdir(base_dir) if is_dir(tree, base_dir) else []
            hits = [n for n in names if fnmatch.fnmatchcase(n, os.path.basename(clean))]
            if not hits:
                raise BuildFailure(f"{command} failed: no source files were specified")
            matched += [
                (os.path.join(parent, n), f"{base_dir}/{n}" if base_dir else n) for n in hits
            ]
            continue
        rel = resolve(tree, clean) if clean else ""
        if tree.kind(rel) is None:
            raise BuildFailure(
                f"{command} failed: file not found in build context or excluded by "
                f".dockerignore: stat {source}: file does not exist"
            )
        matched.append((clean or ".", rel))
    return matched
