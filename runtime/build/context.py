"""The build context: unpacked safely from its tar, filtered by `.dockerignore`, hashed.

`.dockerignore` matching is written here because it follows Go's filepath.Match plus
Docker's `**` and `!` rules, which neither fnmatch nor pathspec reproduce exactly.
"""

import hashlib
import os
import re
import stat
from collections.abc import Iterator
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


def unpack_context(stream: BinaryIO, target: Path, max_bytes: int = DEFAULT_MAX_CONTEXT) -> None:
    """Unpack the context tar (plain or compressed) into `target`; refused ones leave nothing."""
    try:
        apply_layer(CappedReader(open_uncompressed(stream), max_bytes, "build context"), target)
    except InvalidInput as err:
        raise InvalidInput(f"invalid build context: {err}") from None


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


def tree_digest(path: Path) -> str:
    """Digest of a file or directory tree: names, types, modes, link targets and contents.

    Times and owners are left out, as Docker leaves them out of its COPY cache keys.
    """
    hasher = hashlib.sha256()

    def add(p: Path, rel: str) -> None:
        st = os.lstat(p)
        hasher.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            hasher.update(os.readlink(p).encode() + b"\0")
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                while chunk := f.read(_CHUNK):
                    hasher.update(chunk)
        elif stat.S_ISDIR(st.st_mode):
            for child in sorted(os.listdir(p)):
                add(p / child, f"{rel}/{child}")

    add(path, ".")
    return "sha256:" + hasher.hexdigest()


def prepare(stream: BinaryIO, target: Path, args: dict) -> Iterator[dict]:
    """Unpack and filter the context for a build; a generator so progress can join later."""
    unpack_context(stream, target, args.get("max_bytes", DEFAULT_MAX_CONTEXT))
    dockerfile = args.get("options", {}).get("dockerfile", "Dockerfile")
    apply_dockerignore(target, keep={os.path.normpath(dockerfile), ".dockerignore"})
    yield from ()
