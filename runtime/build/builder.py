"""Dockerfile execution, the way Docker's classic builder does it, with a step cache.

Every step turns a parent state (image config + layers) into a child state. RUN executes in
a container on the overlay of the parent's snapshots and its upperdir becomes the layer;
COPY and ADD write into such a container's rootfs through the chrooted `put_archive`, so
destination paths resolve inside the image, never on the host. Metadata steps only change
the config. Progress is yielded as Docker's JSON messages (`{"stream": ...}`).
"""

import bz2
import copy
import fnmatch
import gzip
import io
import lzma
import os
import platform
import secrets
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runtime.build.cache import BuildCache, CacheEntry, cache_dir, cache_key
from runtime.build.context import resolve_inside, tree_digest
from runtime.build.dockerfile import Dockerfile, Instruction, Stage, parse, parse_instruction
from runtime.build.words import expand_word, expand_words, split_words
from runtime.containers import archive, lifecycle, logs
from runtime.containers.spec import ContainerSpec, resolve_user
from runtime.errors import InvalidInput, NotFound, RuntimeFailure
from runtime.images.model import Image, LayerInfo
from runtime.images.reference import parse_reference
from runtime.images.store import ImageStore, canonical_json, now_rfc3339
from runtime.layers.export import write_layer
from runtime.paths import RuntimePaths
from runtime.store.blobs import sha256_digest

DEFAULT_SHELL = ["/bin/sh", "-c"]
_CHUNK = 1 << 20
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class BuildFailure(RuntimeFailure):
    """A step failed; the message names the step as Docker does."""


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    # Image ids FROM and COPY --from may use; None for any image of the node. A platform
    # with several users passes what the building user may see, since the store holds
    # every user's images and names resolve across all of them.
    visible_images: list[str] | None = None
    # Keeps cached steps apart per scope (a user, say): a step another scope ran is neither
    # reused nor revealed by a cache hit. "" is the scope the cache had before scopes.
    cache_scope: str = ""


@dataclass
class _State:
    config: dict
    layers: list[LayerInfo]
    image_id: str
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False

    @property
    def container(self) -> dict:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        values = dict(self.args)
        for item in self.container.get("Env") or []:
            key, _, value = item.partition("=")
            values[key] = value
        return values


def _image_id(config: dict) -> str:
    return sha256_digest(canonical_json(config))


def _state_from(config: dict, layers: list[LayerInfo]) -> _State:
    config = copy.deepcopy(config)
    config["rootfs"] = {"type": "layers", "diff_ids": [x.diff_id for x in layers]}
    return _State(config, list(layers), _image_id(config))


class Builder:
    def __init__(self, paths: RuntimePaths, context: Path, options: BuildOptions) -> None:
        self.paths = paths
        self.store = ImageStore(paths)
        self.cache = BuildCache(self.store)
        self.context = context
        self.options = options
        self.stages: list[_State] = []
        self.used_args: set[str] = set()
        self.step = 0
        self.total = 0
        self.escape = "\\"
        self.stage_names: dict[str, int] = {}

    # --- driving the build ----------------------------------------------------------------

    def run(self) -> Iterator[dict]:
        """Yield progress messages; the last is `{"aux": {"ID": ...}}`. Raises on failure."""
        dockerfile = self._dockerfile()
        self.escape = dockerfile.escape
        last = len(dockerfile.stages) - 1
        if self.options.target:
            last = dockerfile.stage(self.options.target).index
        stages = dockerfile.stages[: last + 1]
        self.stage_names = {s.name: s.index for s in dockerfile.stages if s.name}
        self.total = len(dockerfile.global_args) + sum(1 + len(s.instructions) for s in stages)
        self.total += 1 if self.options.labels else 0
        global_args: dict[str, str] = {}
        for instruction in dockerfile.global_args:
            yield self._announce(instruction)
            name, value = self._arg(instruction, global_args)
            if value is not None:
                global_args[name] = value
        for stage in stages:
            yield from self._run_stage(stage, global_args, is_last=stage.index == last)
        final = self.stages[last]
        image = self.store.add_image_from_layers(final.layers, final.config, self._tags())
        unused = sorted(set(self.options.build_args) - self.used_args)
        if unused:
            yield {
                "stream": "[Warning] One or more build-args "
                f"[{' '.join(unused)}] were not consumed\n"
            }
        yield {"aux": {"ID": image.id}}
        yield {"stream": f"Successfully built {image.short_id}\n"}
        for tag in self._tags():
            yield {"stream": f"Successfully tagged {tag}\n"}

    def _tags(self) -> list[str]:
        return [str(parse_reference(t)) for t in self.options.tags]

    def _dockerfile(self) -> Dockerfile:
        path = resolve_inside(self.context, self.options.dockerfile)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            raise InvalidInput(
                f"Cannot locate specified Dockerfile: {self.options.dockerfile}"
            ) from None
        with os.fdopen(fd, "rb") as f:
            return parse(f.read(4 * 1024 * 1024 + 1).decode("utf-8", errors="replace"))

    def _announce(self, instruction: Instruction) -> dict:
        self.step += 1
        return {"stream": f"Step {self.step}/{self.total} : {instruction.original}\n"}

    def _run_stage(
        self, stage: Stage, global_args: dict[str, str], is_last: bool
    ) -> Iterator[dict]:
        yield self._announce(stage.from_instruction)
        base_name = expand_word(stage.base, global_args, self.escape)
        state = self._base(base_name)
        yield {"stream": f" ---> {state.image_id.removeprefix('sha256:')[:12]}\n"}
        triggers = state.container.pop("OnBuild", None) or []
        if triggers:
            state = _state_from(state.config, state.layers)
        instructions = list(stage.instructions)
        if is_last and self.options.labels:
            labels = " ".join(f'"{k}"="{v}"' for k, v in sorted(self.options.labels.items()))
            instructions.append(parse_instruction(0, f"LABEL {labels}"))
        if triggers:
            yield {"stream": f"# Executing {len(triggers)} build trigger(s)\n"}
        for text in triggers:
            state = yield from self._execute(parse_instruction(0, text), state, global_args)
        for instruction in instructions:
            yield self._announce(instruction)
            state = yield from self._execute(instruction, state, global_args)
        self.stages.append(state)

    def _base(self, name: str) -> _State:
        if name.lower() == "scratch":
            arch = _ARCH.get(platform.machine(), platform.machine())
            config = {"architecture": arch, "os": "linux", "config": {}, "history": []}
            config["created"] = now_rfc3339()
            return _state_from(config, [])
        index = self.stage_names.get(name.lower())
        if index is not None and index < len(self.stages):
            stage_state = self.stages[index]
            return _state_from(stage_state.config, stage_state.layers)
        try:
            image = self._visible_image(name)
        except NotFound:
            raise BuildFailure(
                f"pull access denied for {name}: no such image on this node; "
                f"run `docker pull {name}` first"
            ) from None
        state = _state_from(image.config, image.layers)
        state.image_id = image.id
        return state

    def _visible_image(self, name: str) -> Image:
        """The image `name` resolves to, if this build may use it; else NotFound, the same
        answer as for a missing one."""
        image = self.store.get(name)
        allowed = self.options.visible_images
        if allowed is not None and image.id not in allowed:
            raise NotFound(f"No such image: {name}")
        return image

    # --- one step --------------------------------------------------------------------------

    def _execute(
        self, ins: Instruction, state: _State, global_args: dict[str, str]
    ) -> Iterator[dict]:
        command = ins.command
        if command == "ARG":
            name, value = self._arg(ins, global_args)
            if value is None and name in global_args:
                value = global_args[name]
            state.args[name] = value or ""
            return (yield from self._metadata(ins, state))
        if command in ("RUN",):
            return (yield from self._run(ins, state))
        if command in ("COPY", "ADD"):
            return (yield from self._copy(ins, state))
        if command == "ONBUILD":
            trigger = ins.args.strip()
            keyword = trigger.split(None, 1)[0].upper() if trigger else ""
            if keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise BuildFailure(f"{keyword} isn't allowed as an ONBUILD trigger")
            parse_instruction(ins.line, trigger)
        return (yield from self._metadata(ins, state))

    def _arg(self, ins: Instruction, known: dict[str, str]) -> tuple[str, str | None]:
        name, eq, default = ins.args.partition("=")
        name = name.strip()
        value: str | None = expand_word(default, known, self.escape) if eq else None
        if name in self.options.build_args:
            self.used_args.add(name)
            given = self.options.build_args[name]
            if given is not None:
                value = given
        return name, value

    def _metadata(self, ins: Instruction, state: _State) -> Iterator[dict]:
        config, described = self.changed_config(ins, state)
        history = {"created_by": f"/bin/sh -c #(nop)  {described}", "empty_layer": True}
        child = yield from self._commit(ins, state, config, history, [], None)
        child.cmd_set = state.cmd_set or ins.command == "CMD"
        return child

    def changed_config(self, ins: Instruction, state: _State) -> tuple[dict, str]:
        """The image config after a metadata instruction, and how history describes it."""
        config = copy.deepcopy(state.config)
        c = config.setdefault("config", {})
        env = state.env()
        command = ins.command
        described = ins.original
        if command == "ENV":
            pairs = self._pairs(ins.args, env)
            current = list(c.get("Env") or [])
            for key, value in pairs:
                current = [e for e in current if e.partition("=")[0] != key] + [f"{key}={value}"]
                env[key] = value
            c["Env"] = current
            described = "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
        elif command in ("LABEL", "MAINTAINER"):
            if command == "MAINTAINER":
                config["author"] = expand_word(ins.args, env, self.escape)
            else:
                pairs = self._pairs(ins.args, env)
                c["Labels"] = {**(c.get("Labels") or {}), **dict(pairs)}
                described = "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
        elif command == "EXPOSE":
            ports = dict(c.get("ExposedPorts") or {})
            for word in expand_words(ins.args, env, self.escape):
                port = word if "/" in word else f"{word}/tcp"
                ports[port] = {}
            c["ExposedPorts"] = ports
        elif command == "VOLUME":
            volumes = dict(c.get("Volumes") or {})
            names = (
                ins.json_args
                if ins.json_args is not None
                else expand_words(ins.args, env, self.escape)
            )
            for name in names:
                if not name.strip():
                    raise BuildFailure("VOLUME specified can not be an empty string")
                volumes[name] = {}
            c["Volumes"] = volumes
        elif command == "USER":
            c["User"] = expand_word(ins.args, env, self.escape)
        elif command == "WORKDIR":
            path = expand_word(ins.args, env, self.escape)
            c["WorkingDir"] = os.path.normpath(os.path.join(c.get("WorkingDir") or "/", path))
        elif command == "STOPSIGNAL":
            c["StopSignal"] = expand_word(ins.args, env, self.escape)
        elif command in ("CMD", "ENTRYPOINT"):
            key = "Cmd" if command == "CMD" else "Entrypoint"
            c[key] = self._command(ins, c)
            if command == "ENTRYPOINT" and not state.cmd_set:
                c["Cmd"] = None
        elif command == "SHELL":
            c["Shell"] = ins.json_args
        elif command == "ONBUILD":
            c["OnBuild"] = [*(c.get("OnBuild") or []), ins.args.strip()]
        elif command == "HEALTHCHECK":
            c["Healthcheck"] = self._healthcheck(ins, c)
        return config, described

    def _pairs(self, text: str, env: dict[str, str]) -> list[tuple[str, str]]:
        words = split_words(text)
        if words and "=" not in words[0]:
            key, _, rest = text.strip().partition(" ")
            if not rest.strip():
                raise BuildFailure(f"{key} must have two arguments")
            return [(key, expand_word(rest.strip(), env, self.escape))]
        pairs = []
        for word in words:
            key, eq, value = word.partition("=")
            if not eq or not key:
                raise BuildFailure(
                    f"syntax error - can't find = in {word!r}. Must be of the form: name=value"
                )
            pairs.append((expand_word(key, env, self.escape), expand_word(value, env, self.escape)))
        return pairs

    def _command(self, ins: Instruction, c: dict) -> list[str]:
        if ins.json_args is not None:
            return ins.json_args
        return [*(c.get("Shell") or DEFAULT_SHELL), ins.args]

    def _healthcheck(self, ins: Instruction, c: dict) -> dict:
        kind, _, rest = ins.args.partition(" ")
        if kind.upper() == "NONE":
            return {"Test": ["NONE"]}
        if kind.upper() != "CMD":
            raise BuildFailure("Unknown type in HEALTHCHECK (try CMD)")
        test = ["CMD", *ins.json_args] if ins.json_args is not None else ["CMD-SHELL", rest.strip()]
        check: dict = {"Test": test}
        for flag, key in (
            ("interval", "Interval"),
            ("timeout", "Timeout"),
            ("start-period", "StartPeriod"),
            ("start-interval", "StartInterval"),
        ):
            if flag in ins.flags:
                check[key] = _duration_ns(ins.flags[flag])
        if "retries" in ins.flags:
            check["Retries"] = int(ins.flags["retries"])
        return check

    # --- committing a step, through the cache -------------------------------------------------

    def _commit(
        self,
        ins: Instruction,
        state: _State,
        config: dict,
        history: dict,
        sources: list[str],
        make_layer,
    ) -> Iterator[dict]:
        key = cache_key(state.image_id, history["created_by"], sources, self.options.cache_scope)
        if not self.options.no_cache:
            hit = self.cache.get(key)
            if hit is not None:
                child = _state_from(hit.config, hit.layers)
                child.args, child.cmd_set = dict(state.args), state.cmd_set
                yield {"stream": " ---> Using cache\n"}
                yield {"stream": f" ---> {child.image_id.removeprefix('sha256:')[:12]}\n"}
                return child
        layers = list(state.layers)
        if make_layer is not None:
            layer = yield from make_layer()
            layers.append(layer)
        created = now_rfc3339()
        config["created"] = created
        config["history"] = [*config.get("history", []), {"created": created, **history}]
        child = _state_from(config, layers)
        child.args, child.cmd_set = dict(state.args), state.cmd_set
        self.cache.put(key, CacheEntry(child.config, child.layers))
        yield {"stream": f" ---> {child.image_id.removeprefix('sha256:')[:12]}\n"}
        return child

    # --- containers for RUN, COPY and ADD ---------------------------------------------------

    def _lowerdirs(self, state: _State) -> list[Path]:
        if state.layers:
            image = Image(
                id=state.image_id, manifest_digest="", config=state.config, layers=state.layers
            )
            return self.store.snapshot_dirs(image)
        empty = cache_dir(self.paths) / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        return [empty]

    def _layer_from(self, cid: str) -> LayerInfo:
        fd, tmp = tempfile.mkstemp(prefix="build-", suffix=".tar", dir=self.paths.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                write_layer(self.paths.container(cid) / "upper", out)
            return self.store.add_layer(Path(tmp))
        finally:
            os.unlink(tmp)

    def _run(self, ins: Instruction, state: _State) -> Iterator[dict]:
        c = state.container
        if ins.json_args is not None:
            args = list(ins.json_args)
            shown = "[" + " ".join(args) + "]"
        else:
            args = [*(c.get("Shell") or DEFAULT_SHELL), ins.args]
            shown = " ".join(args)
        build_args = {k: v for k, v in state.args.items()}
        env_keys = {e.partition("=")[0] for e in c.get("Env") or []}
        arg_env = [f"{k}={v}" for k, v in sorted(build_args.items()) if k not in env_keys]
        prefix = (
            f"|{len(build_args)} " + "".join(f"{k}={v} " for k, v in sorted(build_args.items()))
            if build_args
            else ""
        )
        created_by = f"{prefix}{shown}"
        config = copy.deepcopy(state.config)

        def make_layer() -> Iterator[dict]:
            cid = secrets.token_hex(32)
            spec = ContainerSpec(
                args=args,
                env=[*arg_env, *(c.get("Env") or [])],
                cwd=c.get("WorkingDir") or "/",
                user=c.get("User") or "",
                hostname=cid[:12],
            )
            yield {"stream": f" ---> Running in {cid[:12]}\n"}
            try:
                lifecycle.create(self.paths, cid, spec, self._lowerdirs(state))
                self._ensure_dir(cid, spec.cwd)
                try:
                    lifecycle.start(self.paths, cid)
                except RuntimeFailure as err:
                    raise BuildFailure(f"The command '{shown}' could not start: {err}") from None
                for entry in logs.follow_output(self.paths, cid, 0):
                    yield {"stream": entry.data.decode("utf-8", errors="replace")}
                final = lifecycle.wait(self.paths, cid)
                if final.exit_code != 0:
                    raise BuildFailure(
                        f"The command '{shown}' returned a non-zero code: {final.exit_code}"
                    )
                layer = self._layer_from(cid)
            finally:
                _remove(self.paths, cid)
            yield {"stream": f"Removing intermediate container {cid[:12]}\n"}
            return layer

        history = {"created_by": created_by}
        return (yield from self._commit(ins, state, config, history, [], make_layer))

    def _ensure_dir(self, cid: str, path: str) -> None:
        root = lifecycle.rootfs(self.paths, cid)
        if path in ("", "/") or resolve_inside(root, path).exists():
            return
        info = tarfile.TarInfo(path.strip("/"))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.put_archive(self.paths, cid, "/", [_tar_bytes([info])])

    # --- COPY and ADD ------------------------------------------------------------------------

    def _copy(self, ins: Instruction, state: _State) -> Iterator[dict]:
        env = state.env()
        words = (
            ins.json_args if ins.json_args is not None else expand_words(ins.args, env, self.escape)
        )
        if len(words) < 2:
            raise BuildFailure(f"{ins.command} requires at least two arguments")
        *sources, dest = words
        source_root = self.context
        from_flag = ins.flags.get("from")
        holder = None
        if from_flag:
            holder, source_root = self._source_root(expand_word(from_flag, env, self.escape))
        try:
            matched = self._match_sources(source_root, sources, ins.command)
            digests = [f"{rel}:{tree_digest(path)}" for rel, path in matched]
            workdir = state.container.get("WorkingDir") or "/"
            target = dest if dest.startswith("/") else os.path.join(workdir, dest)
            flags = {k: v for k, v in ins.flags.items() if k in ("chown", "chmod")}
            kind = "dir" if any(p.is_dir() for _, p in matched) else "file"
            shown_flags = "".join(f"--{k}={v} " for k, v in flags.items())
            content = sha256_digest(" ".join(digests).encode()).removeprefix("sha256:")
            created_by = f"/bin/sh -c #(nop) {ins.command} {shown_flags}{kind}:{content} in {dest} "
            config = copy.deepcopy(state.config)

            def make_layer() -> Iterator[dict]:
                cid = secrets.token_hex(32)
                try:
                    lifecycle.create(
                        self.paths, cid, ContainerSpec(args=["true"]), self._lowerdirs(state)
                    )
                    root = lifecycle.rootfs(self.paths, cid)
                    for tar in self._copy_tars(ins, matched, target, dest, root, flags):
                        archive.put_archive(self.paths, cid, "/", [tar])
                    layer = self._layer_from(cid)
                finally:
                    _remove(self.paths, cid)
                yield from ()
                return layer

            history = {"created_by": created_by}
            return (yield from self._commit(ins, state, config, history, digests, make_layer))
        finally:
            if holder:
                _remove(self.paths, holder)

    def _source_root(self, name: str) -> tuple[str, Path]:
        """A mounted view of a stage or image for COPY --from (removed after the step)."""
        index = self.stage_names.get(name.lower())
        if index is None and name.isdigit() and int(name) < len(self.stages):
            index = int(name)
        if index is not None:
            source = self.stages[index]
        else:
            try:
                image = self._visible_image(name)
            except NotFound:
                raise BuildFailure(
                    f"invalid from flag value {name}: no such stage or image"
                ) from None
            source = _state_from(image.config, image.layers)
        cid = secrets.token_hex(32)
        lifecycle.create(self.paths, cid, ContainerSpec(args=["true"]), self._lowerdirs(source))
        return cid, lifecycle.rootfs(self.paths, cid)

    def _match_sources(
        self, root: Path, sources: list[str], command: str
    ) -> list[tuple[str, Path]]:
        matched: list[tuple[str, Path]] = []
        for source in sources:
            if "://" in source:
                raise BuildFailure(f"{command} from a URL is not supported here: {source}")
            clean = os.path.normpath("/" + source).lstrip("/")
            if any(ch in clean for ch in "*?["):
                parent = os.path.dirname(clean)
                base_dir = resolve_inside(root, parent)
                names = sorted(os.listdir(base_dir)) if base_dir.is_dir() else []
                hits = [n for n in names if fnmatch.fnmatchcase(n, os.path.basename(clean))]
                if not hits:
                    raise BuildFailure(f"{command} failed: no source files were specified")
                matched += [(os.path.join(parent, n), base_dir / n) for n in hits]
                continue
            path = resolve_inside(root, clean) if clean else root
            if not os.path.lexists(path):
                raise BuildFailure(
                    f"{command} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {source}: file does not exist"
                )
            matched.append((clean or ".", path))
        return matched

    def _copy_tars(
        self, ins, matched, target: str, dest: str, root: Path, flags: dict
    ) -> list[bytes]:
        uid = gid = 0
        if "chown" in flags:
            user = resolve_user(root, flags["chown"])
            uid, gid = user.uid, user.gid
        mode = int(flags["chmod"], 8) if "chmod" in flags else None
        to_dir = dest.endswith("/") or len(matched) > 1 or resolve_inside(root, target).is_dir()
        if len(matched) > 1 and not dest.endswith("/"):
            raise BuildFailure(
                f"When using {ins.command} with more than one source file, the destination "
                "must be a directory and end with a /"
            )
        base = target.strip("/")
        entries: list[tuple[tarfile.TarInfo, Path | None]] = []
        extracted: list[bytes] = []
        if (
            (to_dir or any(p.is_dir() for _, p in matched))
            and base
            and not resolve_inside(root, target).exists()
        ):
            info = tarfile.TarInfo(base)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, gid
            entries.append((info, None))
        for rel, path in matched:
            if path.is_dir() and not path.is_symlink():
                entries += _tree_entries(path, base, uid, gid, mode)
            elif ins.command == "ADD" and _is_archive(path):
                extracted.append(_rebased_archive(path, base))
            else:
                name = f"{base}/{os.path.basename(rel)}" if to_dir else base
                entries.append((_entry(path, name.strip("/"), uid, gid, mode), path))
        return [_tar_bytes([e for e, _ in entries], {id(e): p for e, p in entries}), *extracted]


def _remove(paths: RuntimePaths, cid: str) -> None:
    try:
        lifecycle.remove(paths, cid, force=True)
    except NotFound:
        pass


def _entry(path: Path, name: str, uid: int, gid: int, mode: int | None) -> tarfile.TarInfo:
    st = os.lstat(path)
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.mtime = uid, gid, int(st.st_mtime)
    info.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        raise BuildFailure(f"cannot copy {path.name}: unsupported file type")
    return info


def _tree_entries(root: Path, base: str, uid: int, gid: int, mode: int | None) -> list:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            found.append((_entry(path, f"{base}/{rel}".strip("/"), uid, gid, mode), path))
    return found


def _tar_bytes(infos: list[tarfile.TarInfo], files: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in infos:
            path = (files or {}).get(id(info))
            if info.isreg() and path is not None:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _is_archive(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def _rebased_archive(path: Path, base: str) -> bytes:
    """A local archive for ADD, with every entry moved under `base` (names checked)."""
    openers = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
    with open(path, "rb") as f:
        head = f.read(6)
    opener = next((fn for magic, fn in openers.items() if head.startswith(magic)), open)
    out = io.BytesIO()
    with (
        opener(path, "rb") as raw,
        tarfile.open(fileobj=raw, mode="r|") as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if member.name.startswith("/") or ".." in parts:
                raise BuildFailure(f"ADD refuses archive entry {member.name!r}: outside the target")
            member.name = "/".join([base, *parts]).strip("/") if parts else base
            if member.islnk():
                link = [p for p in member.linkname.split("/") if p not in ("", ".")]
                if ".." in link:
                    raise BuildFailure(f"ADD refuses hard link {member.linkname!r}")
                member.linkname = "/".join([base, *link]).strip("/")
            if not member.name:
                continue
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    return out.getvalue()


def _duration_ns(text: str) -> int:
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * units[unit])
            except ValueError:
                break
    raise BuildFailure(f"invalid duration {text!r}")


IMPORT_CHANGES = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME"}
IMPORT_CHANGES |= {"WORKDIR", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def apply_changes(paths: RuntimePaths, config: dict, changes: list[str]) -> dict:
    """`docker import --change` / `commit --change`: Dockerfile metadata lines on a config."""
    builder = Builder(paths, paths.tmp, BuildOptions())
    state = _State(copy.deepcopy(config), [], "")
    for text in changes:
        ins = parse_instruction(0, text.strip())
        if ins.command not in IMPORT_CHANGES:
            raise InvalidInput(f"{ins.command} is not a valid change command")
        state.config, _ = builder.changed_config(ins, state)
    return state.config
