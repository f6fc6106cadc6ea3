"""The build context: received in one pass, filtered by `.dockerignore`, unpacked on demand.

The context's tar is copied to a spool file and indexed as it arrives
(runtime/build/tarindex.py): COPY's cache keys come from the index, so a fully cached
rebuild never unpacks the context. The first step that copies from it unpacks the spool in
the chrooted child every layer goes through (runtime/layers/apply.py), which refuses any
member that could reach outside.

`.dockerignore` matching is written here because it follows Go's filepath.Match plus
Docker's `**` and `!` rules, which neither fnmatch nor pathspec reproduce exactly.
"""

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.build.sources import FileTree, IndexTree, SourceTree, resolve
from runtime.build.tarindex import ContextIndex, index_tar
from runtime.errors import InvalidInput
from runtime.images.archive_members import CappedReader
from runtime.layers.apply import apply_layer
from runtime.layers.compression import open_uncompressed

DEFAULT_MAX_CONTEXT = 10 * 1024**3
IGNORE_FILE = ".dockerignore"
# What the spool is written in: a write per tar record would be a system call per 64 KiB.
_SPOOL_BUFFER = 1 << 20
_DOCKERFILE_LIMIT = 4 * 1024 * 1024


class BuildContext:
    """The files a build reads: its Dockerfile and COPY's sources.

    Given only `root`, the files are there already. Given an index and a spool, they are
    unpacked from the spool into `root` the first time a step needs them.
    """

    def __init__(
        self,
        root: Path,
        index: ContextIndex | None = None,
        spool: Path | None = None,
        kept: dict[str, bytes] | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> None:
        self.root = root
        self.index = index
        self.spool = spool
        self.kept = kept or {}
        self.keep = keep

    @property
    def tree(self) -> SourceTree:
        return IndexTree(self.index) if self.index is not None else FileTree(self.root)

    def files(self) -> Path:
        """The directory holding the context's files, unpacked and filtered if need be."""
        if self.spool is not None:
            apply_layer(self.spool, self.root, DEFAULT_MAX_CONTEXT)
            apply_dockerignore(self.root, keep=set(self.keep))
            self.spool.unlink()
            self.spool = None
        return self.root

    def dockerfile(self, name: str) -> bytes:
        missing = InvalidInput(f"Cannot locate specified Dockerfile: {name}")
        if self.index is not None:
            rel = resolve(self.tree, name)
            entry = self.index.entry(rel)
            if entry is None or entry.fmt != stat.S_IFREG:
                raise missing
            content = self.kept.get(rel)
            if content is not None and hashlib.sha256(content).hexdigest() == entry.digest:
                return content
        path = resolve_inside(self.files(), name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            raise missing from None
        with os.fdopen(fd, "rb") as f:
            return f.read(_DOCKERFILE_LIMIT + 1)


def receive_context(
    stream: BinaryIO, workdir: Path, args: dict, max_bytes: int = DEFAULT_MAX_CONTEXT
) -> BuildContext:
    """Spool and index the context tar (plain or compressed) on `stream` in `workdir`, and
    drop from the index what `.dockerignore` excludes. `args` are the build stream's."""
    dockerfile = os.path.normpath(args.get("options", {}).get("dockerfile") or "Dockerfile")
    keep = frozenset({dockerfile, IGNORE_FILE})
    spool = workdir / "context.tar"
    source = CappedReader(open_uncompressed(stream), max_bytes, "build context")
    with open(spool, "wb", buffering=_SPOOL_BUFFER) as out:
        index, kept = index_tar(source, out, set(keep))
    ignore = index.entry(IGNORE_FILE)
    if ignore is not None and ignore.fmt == stat.S_IFREG and IGNORE_FILE in kept:
        rules = IgnoreRules(kept[IGNORE_FILE].decode(errors="replace"))
        if rules.patterns:
            ignore_in_index(index, rules, keep)
    return BuildContext(workdir / "context", index, spool, kept, keep)


@dataclass
class _Pattern:
    regex: re.Pattern
    exclusion: bool


def _translate(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidInput(f"invalid .dockerignore pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$")


class IgnoreRules:
    """Docker's `.dockerignore`: the last matching pattern wins; `!` re-includes."""

    def __init__(self, text: str) -> None:
        self.patterns: list[_Pattern] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            line = os.path.normpath(line).lstrip("/")
            if line in ("", "."):
                continue
            self.patterns.append(_Pattern(_translate(line), exclusion))

    def ignored(self, relpath: str) -> bool:
        parts = relpath.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for pattern in self.patterns:
            if any(pattern.regex.match(p) for p in prefixes):
                result = not pattern.exclusion
        return result


def apply_dockerignore(root: Path, keep: set[str]) -> None:
    """Delete what `.dockerignore` excludes (except the files named in `keep`)."""
    ignore_file = root / ".dockerignore"
    if not ignore_file.is_file() or ignore_file.is_symlink():
        return
    rules = IgnoreRules(ignore_file.read_text(errors="replace"))
    if not rules.patterns:
        return
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if _kept(rel, keep):
                continue
            if rules.ignored(rel):
                if path.is_dir() and not path.is_symlink():
                    if not any(path.iterdir()):
                        path.rmdir()
                else:
                    path.unlink()


def resolve_inside(root: Path, path: str) -> Path:
    """`path` with every symlink resolved as if `root` were `/`; never leaves `root`."""
    tree = FileTree(root)
    return tree.path(resolve(tree, path))


def ignore_in_index(index: ContextIndex, rules: "IgnoreRules", keep: frozenset[str]) -> None:
    """What `apply_dockerignore` would delete, taken out of the index."""
    for rel in list(index.walk_bottom_up()):
        if rel not in index.entries or _kept(rel, keep) or not rules.ignored(rel):
            continue
        entry = index.entries[rel]
        if entry.fmt != stat.S_IFDIR or not index.listdir(rel):
            index.remove(rel)


def _kept(rel: str, keep: frozenset[str] | set[str]) -> bool:
    return rel in keep or any(k.startswith(rel + "/") for k in keep)
