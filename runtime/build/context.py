"""The build context: unpacked safely from its tar, filtered by `.dockerignore`, hashed.

The tar is read once: the chrooted child that unpacks it hashes each file as it writes it
(runtime/layers/untar.py), and COPY's cache keys are made from those digests, so a cached
rebuild does not read the context's files again.

`.dockerignore` matching is written here because it follows Go's filepath.Match plus
Docker's `**` and `!` rules, which neither fnmatch nor pathspec reproduce exactly.
"""

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.archive import CappedReader
from runtime.layers.apply import apply_layer
from runtime.layers.compression import open_uncompressed

DEFAULT_MAX_CONTEXT = 10 * 1024**3
_MAX_LINKS = 40
_CHUNK = 1 << 20


@dataclass
class ContextDigests:
    """The sha256 of each regular file of the context at `root`, by its path there."""

    root: Path
    files: dict[str, str]

    def tree(self, path: Path) -> str:
        """`tree_digest` of `path`, with the digests known here in place of reading files."""

        def known(file: Path) -> str | None:
            try:
                rel = file.relative_to(self.root).as_posix()
            except ValueError:
                return None
            return self.files.get(rel)

        return tree_digest(path, known)


def unpack_context(
    stream: BinaryIO, target: Path, max_bytes: int = DEFAULT_MAX_CONTEXT
) -> ContextDigests:
    """Unpack the context tar (plain or compressed) into `target`, hashing its files on the
    way; a refused one leaves nothing."""
    source = CappedReader(open_uncompressed(stream), max_bytes, "build context")
    try:
        files = apply_layer(source, target, digests=True)
    except InvalidInput as err:
        raise InvalidInput(f"invalid build context: {err}") from None
    return ContextDigests(target, files or {})


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
            if rel in keep or any(k.startswith(rel + "/") for k in keep):
                continue
            if rules.ignored(rel):
                if path.is_dir() and not path.is_symlink():
                    if not any(path.iterdir()):
                        path.rmdir()
                else:
                    path.unlink()


def resolve_inside(root: Path, path: str) -> Path:
    """`path` with every symlink resolved as if `root` were `/`; never leaves `root`."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                raise InvalidInput(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def tree_digest(path: Path, known: Callable[[Path], str | None] | None = None) -> str:
    """Digest of a file or directory tree: names, types, modes, link targets and contents.

    Times and owners are left out, as Docker leaves them out of its COPY cache keys. A file's
    content counts by its sha256, which `known` may already have (None: read the file).
    """
    hasher = hashlib.sha256()

    def add(p: Path, rel: str) -> None:
        st = os.lstat(p)
        hasher.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            hasher.update(os.readlink(p).encode() + b"\0")
        elif stat.S_ISREG(st.st_mode):
            content = known(p) if known is not None else None
            hasher.update((content or _file_digest(p)).encode() + b"\0")
        elif stat.S_ISDIR(st.st_mode):
            for child in sorted(os.listdir(p)):
                add(p / child, f"{rel}/{child}")

    add(path, ".")
    return "sha256:" + hasher.hexdigest()


def _file_digest(path: Path) -> str:
    content = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(_CHUNK):
            content.update(chunk)
    return content.hexdigest()


def prepare(stream: BinaryIO, target: Path, args: dict) -> ContextDigests:
    """Unpack, hash and filter the context for a build."""
    digests = unpack_context(stream, target, args.get("max_bytes", DEFAULT_MAX_CONTEXT))
    dockerfile = args.get("options", {}).get("dockerfile", "Dockerfile")
    apply_dockerignore(target, keep={os.path.normpath(dockerfile), ".dockerignore"})
    return digests
