"""Dockerfile execution, the way Docker's classic builder does it, with a step cache.

Every step turns a parent state (image config + layers) into a child state. RUN executes in
a container on the overlay of the parent's snapshots and its upperdir becomes the layer;
COPY and ADD write into such a container's rootfs through the chrooted `put_archive`, so
destination paths resolve inside the image, never on the host (runtime/build/execution.py,
runtime/build/copying.py). Metadata steps only change the config
(runtime/build/metadata.py). Progress is yielded as Docker's JSON messages
(`{"stream": ...}`).
"""

import copy
import os
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

from runtime.build.cache import BuildCache, CacheEntry, cache_key
from runtime.build.context import BuildContext
from runtime.build.copying import copy_tars
from runtime.build.dockerfile import Dockerfile, Instruction, Stage, parse, parse_instruction
from runtime.build.execution import StepContainers
from runtime.build.metadata import changed_config
from runtime.build.sources import FileTree, is_dir, match_sources
from runtime.build.state import (
    DEFAULT_SHELL,
    BuildFailure,
    BuildOptions,
    BuildState,
    state_from,
)
from runtime.build.words import expand_word, expand_words
from runtime.containers.spec import ContainerSpec
from runtime.errors import NotFound
from runtime.images.model import Image
from runtime.images.oci import now_rfc3339
from runtime.images.reference import parse_reference
from runtime.images.store import ImageStore
from runtime.network import NetworkManager
from runtime.paths import RuntimePaths
from runtime.store.blobs import sha256_digest

__all__ = ["Builder", "BuildFailure", "BuildOptions"]

_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class Builder:
    def __init__(
        self,
        paths: RuntimePaths,
        context: BuildContext | Path,
        options: BuildOptions,
        networks: NetworkManager | None = None,
    ) -> None:
        """`context` is a received one (runtime/build/context.py) or a directory of files;
        `networks` plugs RUN into the node's default bridge (a build without one runs RUN
        with `--network none` only)."""
        self.paths = paths
        self.store = ImageStore(paths)
        self.cache = BuildCache(self.store)
        self.context = context if isinstance(context, BuildContext) else BuildContext(context)
        self.options = options
        self.containers = StepContainers(paths, self.store, options.network, networks)
        self.stages: list[BuildState] = []
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
        text = self.context.dockerfile(self.options.dockerfile)
        return parse(text.decode("utf-8", errors="replace"))

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
            state = state_from(state.config, state.layers)
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

    def _base(self, name: str) -> BuildState:
        if name.lower() == "scratch":
            arch = _ARCH.get(platform.machine(), platform.machine())
            config = {"architecture": arch, "os": "linux", "config": {}, "history": []}
            config["created"] = now_rfc3339()
            return state_from(config, [])
        index = self.stage_names.get(name.lower())
        if index is not None and index < len(self.stages):
            stage_state = self.stages[index]
            return state_from(stage_state.config, stage_state.layers)
        try:
            image = self._visible_image(name)
        except NotFound:
            raise BuildFailure(
                f"pull access denied for {name}: no such image on this node; "
                f"run `docker pull {name}` first"
            ) from None
        state = state_from(image.config, image.layers)
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
        self, ins: Instruction, state: BuildState, global_args: dict[str, str]
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

    def _metadata(self, ins: Instruction, state: BuildState) -> Iterator[dict]:
        config, described = self.changed_config(ins, state)
        history = {"created_by": f"/bin/sh -c #(nop)  {described}", "empty_layer": True}
        child = yield from self._commit(ins, state, config, history, [], None)
        child.cmd_set = state.cmd_set or ins.command == "CMD"
        return child

    def _metadata(self, ins: Instruction, state: BuildState) -> Iterator[dict]:
        config, described = changed_config(ins, state, self.escape)
        history = {"created_by": f"/bin/sh -c #(nop)  {described}", "empty_layer": True}
        child = yield from self._commit(ins, state, config, history, [], None)
        child.cmd_set = state.cmd_set or ins.command == "CMD"
        return child

    # --- committing a step, through the cache -------------------------------------------------

    def _commit(
        self,
        ins: Instruction,
        state: BuildState,
        config: dict,
        history: dict,
        sources: list[str],
        make_layer: Callable[[], Iterator[dict]] | None,
    ) -> Iterator[dict]:
        key = cache_key(state.image_id, history["created_by"], sources, self.options.cache_scope)
        if not self.options.no_cache:
            hit = self.cache.get(key)
            if hit is not None:
                child = state_from(hit.config, hit.layers)
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
        child = state_from(config, layers)
        child.args, child.cmd_set = dict(state.args), state.cmd_set
        self.cache.put(key, CacheEntry(child.config, child.layers))
        yield {"stream": f" ---> {child.image_id.removeprefix('sha256:')[:12]}\n"}
        return child

    # --- RUN, COPY and ADD ---------------------------------------------------------------------

    def _run(self, ins: Instruction, state: BuildState) -> Iterator[dict]:
        c = state.container
        if ins.json_args is not None:
            args = list(ins.json_args)
            shown = "[" + " ".join(args) + "]"
        else:
            args = [*(c.get("Shell") or DEFAULT_SHELL), ins.args]
            shown = " ".join(args)
        build_args = dict(state.args)
        env_keys = {e.partition("=")[0] for e in c.get("Env") or []}
        arg_env = [f"{k}={v}" for k, v in sorted(build_args.items()) if k not in env_keys]
        prefix = (
            f"|{len(build_args)} " + "".join(f"{k}={v} " for k, v in sorted(build_args.items()))
            if build_args
            else ""
        )
        config = copy.deepcopy(state.config)

        def make_layer() -> Iterator[dict]:
            spec = ContainerSpec(
                args=args,
                env=[*arg_env, *(c.get("Env") or [])],
                cwd=c.get("WorkingDir") or "/",
                user=c.get("User") or "",
            )
            return (yield from self.containers.run(state, spec, shown))

        history = {"created_by": f"{prefix}{shown}"}
        return (yield from self._commit(ins, state, config, history, [], make_layer))

    def _copy(self, ins: Instruction, state: BuildState) -> Iterator[dict]:
        env = state.env()
        words = (
            ins.json_args if ins.json_args is not None else expand_words(ins.args, env, self.escape)
        )
        if len(words) < 2:
            raise BuildFailure(f"{ins.command} requires at least two arguments")
        *sources, dest = words
        from_flag = ins.flags.get("from")
        holder = None
        tree = self.context.tree
        if from_flag:
            holder, source_root = self._source_root(expand_word(from_flag, env, self.escape))
            tree = FileTree(source_root)
        try:
            matched = match_sources(tree, sources, ins.command)
            digests = [f"{name}:{tree.digest(rel)}" for name, rel in matched]
            workdir = state.container.get("WorkingDir") or "/"
            target = dest if dest.startswith("/") else os.path.join(workdir, dest)
            flags = {k: v for k, v in ins.flags.items() if k in ("chown", "chmod")}
            kind = "dir" if any(is_dir(tree, rel) for _, rel in matched) else "file"
            shown_flags = "".join(f"--{k}={v} " for k, v in flags.items())
            content = sha256_digest(" ".join(digests).encode()).removeprefix("sha256:")
            created_by = f"/bin/sh -c #(nop) {ins.command} {shown_flags}{kind}:{content} in {dest} "
            config = copy.deepcopy(state.config)

            def make_layer() -> Iterator[dict]:
                # The context's files exist from the first step that copies them.
                files = tree if from_flag else FileTree(self.context.files())
                found = matched if from_flag else match_sources(files, sources, ins.command)
                paths = [(name, files.path(rel)) for name, rel in found]
                layer = self.containers.write(
                    state, lambda root: copy_tars(ins, paths, target, dest, root, flags)
                )
                yield from ()
                return layer

            history = {"created_by": created_by}
            return (yield from self._commit(ins, state, config, history, digests, make_layer))
        finally:
            if holder:
                self.containers.remove(holder)

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
            source = state_from(image.config, image.layers)
        return self.containers.mount(source)
