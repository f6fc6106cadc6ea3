"""Dockerfile parsing: parser directives, continuations, comments, exec/shell forms, stages.

Produces instructions with their raw argument text; variables are expanded later, by the
executor, because their values depend on the build state at each step.
"""

import json
import re
from dataclasses import dataclass, field

from runtime.errors import InvalidInput

INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-z][a-z-]*)(?:=(.*))?$")
_MAX_DOCKERFILE = 4 * 1024 * 1024


@dataclass
class Instruction:
    command: str
    args: str
    line: int
    original: str
    flags: dict[str, str] = field(default_factory=dict)
    json_args: list[str] | None = None

    def __str__(self) -> str:
        return self.original


@dataclass
class Stage:
    base: str
    name: str
    index: int
    instructions: list[Instruction] = field(default_factory=list)
    from_instruction: Instruction | None = None


@dataclass
class Dockerfile:
    escape: str
    global_args: list[Instruction]
    stages: list[Stage]

    def stage(self, target: str) -> Stage:
        for stage in self.stages:
            if stage.name and stage.name == target.lower():
                return stage
        raise InvalidInput(f"failed to reach build target {target} in Dockerfile")


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip())
        if not match:
            return found, number
        key = match.group(1).lower()
        if key in found:
            raise InvalidInput(f"only one {key} parser directive can be used")
        found[key] = match.group(2)
    return found, len(lines)


def _logical_lines(lines: list[str], start: int, escape: str) -> list[tuple[int, str]]:
    """(first line number, joined text) for each instruction; comments and blanks dropped."""
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    first = 0
    for number in range(start, len(lines)):
        raw = lines[number]
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and buffer):
            continue
        if not stripped:
            continue
        if not buffer:
            first = number + 1
        text = raw.rstrip()
        if text.endswith(escape):
            buffer.append(text[:-1])
            continue
        buffer.append(text)
        out.append((first, "".join(buffer).strip()))
        buffer = []
    if buffer:
        out.append((first, "".join(buffer).strip()))
    return out


def _split_flags(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        word, _, remainder = rest.partition(" ")
        match = _FLAG.match(word)
        if not match:
            break
        flags[match.group(1)] = match.group(2) if match.group(2) is not None else "true"
        rest = remainder.lstrip()
    return flags, rest


def _json_form(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value
    return None


def parse_instruction(line: int, text: str) -> Instruction:
    keyword, _, args = text.partition(" ")
    if "\t" in keyword:
        keyword, _, more = keyword.partition("\t")
        args = f"{more} {args}".strip()
    command = keyword.upper()
    if command not in INSTRUCTIONS:
        raise InvalidInput(f"dockerfile parse error line {line}: unknown instruction: {keyword}")
    args = args.strip()
    flags: dict[str, str] = {}
    if command in ("FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"):
        flags, args = _split_flags(args)
    allowed = {
        "FROM": {"platform"},
        "RUN": set(),
        "COPY": {"from", "chown", "chmod", "link"},
        "ADD": {"chown", "chmod", "link", "checksum"},
        "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
    }.get(command, set())
    for name in flags:
        if name not in allowed:
            raise InvalidInput(
                f"dockerfile parse error line {line}: unknown flag: --{name} for {command}"
            )
    instruction = Instruction(command, args, line, text, flags)
    if command in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"):
        instruction.json_args = _json_form(args)
    if command == "HEALTHCHECK":
        kind, _, rest = args.partition(" ")
        if kind.upper() == "CMD":
            instruction.json_args = _json_form(rest.strip())
    if command == "SHELL" and instruction.json_args is None:
        raise InvalidInput(f"dockerfile parse error line {line}: SHELL requires a JSON array")
    needs_args = command not in ("ONBUILD",)
    if needs_args and not args:
        raise InvalidInput(f"dockerfile parse error line {line}: {command} requires an argument")
    return instruction


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile into global ARGs and stages."""
    if len(text) > _MAX_DOCKERFILE:
        raise InvalidInput("the Dockerfile is larger than 4 MiB")
    lines = text.lstrip("\ufeff").splitlines()
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidInput(f"invalid escape token '{escape}' does not match ` or \\")
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for number, logical in _logical_lines(lines, start, escape):
        instruction = parse_instruction(number, logical)
        if instruction.command == "FROM":
            words = instruction.args.split()
            name = ""
            if len(words) == 3 and words[1].upper() == "AS":
                name = words[2].lower()
                if not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
                    raise InvalidInput(f"invalid name for build stage: {words[2]!r}")
            elif len(words) != 1:
                raise InvalidInput(
                    f"dockerfile parse error line {number}: FROM requires either one or three "
                    "arguments"
                )
            stages.append(Stage(words[0], name, len(stages), [], instruction))
        elif not stages:
            if instruction.command != "ARG":
                raise InvalidInput("no build stage in current context")
            global_args.append(instruction)
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise InvalidInput("the Dockerfile has no FROM instruction")
    return Dockerfile(escape, global_args, stages)
