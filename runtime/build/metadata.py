"""Metadata instructions (ENV, LABEL, EXPOSE, CMD, HEALTHCHECK...): how each changes an
image config, for a build's steps and for `docker import/commit --change`."""

import copy
import os

from runtime.build.dockerfile import Instruction, parse_instruction
from runtime.build.state import DEFAULT_SHELL, BuildFailure, BuildState
from runtime.build.words import expand_word, expand_words, split_words
from runtime.errors import InvalidInput


def changed_config(ins: Instruction, state: BuildState, escape: str) -> tuple[dict, str]:
    """The image config after a metadata instruction, and how history describes it."""
    config = copy.deepcopy(state.config)
    c = config.setdefault("config", {})
    env = state.env()
    command = ins.command
    described = ins.original
    if command == "ENV":
        pairs = _pairs(ins.args, env, escape)
        current = list(c.get("Env") or [])
        for key, value in pairs:
            current = [e for e in current if e.partition("=")[0] != key] + [f"{key}={value}"]
            env[key] = value
        c["Env"] = current
        described = "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    elif command in ("LABEL", "MAINTAINER"):
        if command == "MAINTAINER":
            config["author"] = expand_word(ins.args, env, escape)
        else:
            pairs = _pairs(ins.args, env, escape)
            c["Labels"] = {**(c.get("Labels") or {}), **dict(pairs)}
            described = "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    elif command == "EXPOSE":
        ports = dict(c.get("ExposedPorts") or {})
        for word in expand_words(ins.args, env, escape):
            port = word if "/" in word else f"{word}/tcp"
            ports[port] = {}
        c["ExposedPorts"] = ports
    elif command == "VOLUME":
        volumes = dict(c.get("Volumes") or {})
        names = ins.json_args if ins.json_args is not None else expand_words(ins.args, env, escape)
        for name in names:
            if not name.strip():
                raise BuildFailure("VOLUME specified can not be an empty string")
            volumes[name] = {}
        c["Volumes"] = volumes
    elif command == "USER":
        c["User"] = expand_word(ins.args, env, escape)
    elif command == "WORKDIR":
        path = expand_word(ins.args, env, escape)
        c["WorkingDir"] = os.path.normpath(os.path.join(c.get("WorkingDir") or "/", path))
    elif command == "STOPSIGNAL":
        c["StopSignal"] = expand_word(ins.args, env, escape)
    elif command in ("CMD", "ENTRYPOINT"):
        key = "Cmd" if command == "CMD" else "Entrypoint"
        c[key] = _command(ins, c)
        if command == "ENTRYPOINT" and not state.cmd_set:
            c["Cmd"] = None
    elif command == "SHELL":
        c["Shell"] = ins.json_args
    elif command == "ONBUILD":
        c["OnBuild"] = [*(c.get("OnBuild") or []), ins.args.strip()]
    elif command == "HEALTHCHECK":
        c["Healthcheck"] = _healthcheck(ins)
    return config, described


def _pairs(text: str, env: dict[str, str], escape: str) -> list[tuple[str, str]]:
    words = split_words(text)
    if words and "=" not in words[0]:
        key, _, rest = text.strip().partition(" ")
        if not rest.strip():
            raise BuildFailure(f"{key} must have two arguments")
        return [(key, expand_word(rest.strip(), env, escape))]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise BuildFailure(
                f"syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        pairs.append((expand_word(key, env, escape), expand_word(value, env, escape)))
    return pairs


def _command(ins: Instruction, c: dict) -> list[str]:
    if ins.json_args is not None:
        return ins.json_args
    return [*(c.get("Shell") or DEFAULT_SHELL), ins.args]


def _healthcheck(ins: Instruction) -> dict:
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


def apply_changes(config: dict, changes: list[str]) -> dict:
    """`docker import --change` / `commit --change`: Dockerfile metadata lines on a config."""
    state = BuildState(copy.deepcopy(config), [], "")
    for text in changes:
        ins = parse_instruction(0, text.strip())
        if ins.command not in IMPORT_CHANGES:
            raise InvalidInput(f"{ins.command} is not a valid change command")
        state.config, _ = changed_config(ins, state, "\\")
    return state.config
