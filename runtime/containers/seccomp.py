"""Seccomp profiles in Docker's format, resolved into a container's OCI `linux.seccomp`.

The default is an allow-list with Docker's effect: `seccomp_default.json`, generated from
Docker's own default profile by `scripts/seccomp_profile.py` (where it comes from, what is
amended and how to regenerate it are said there). Anything it does not list fails with EPERM.
Among what it refuses to a container without CAP_SYS_ADMIN: clone with any CLONE_NEW* flag,
unshare, setns and mount, so no tenant makes a user namespace of its own and, holding every
capability in it, reaches kernel code meant for the host's root (nf_tables, filesystem
mounting); clone3 answers ENOSYS, since its flags sit in memory a filter cannot read, and libc
then falls back to clone, whose flags it can.

Rules name the capabilities and architectures they apply to; `resolve` picks them the way
Docker does for the container's bounding set, so `--cap-add SYS_ADMIN` lifts the same
refusals it lifts under Docker. Administrators' own profiles (`--security-opt seccomp=...`)
go through the same resolution after `parse_profile` has checked them.
"""

import functools
import json
import os
import platform
from pathlib import Path
from typing import Any

from runtime.errors import InvalidInput

DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")

# A profile is a few hundred names; the bound keeps a request from growing container specs
# without limit.
MAX_PROFILE_BYTES = 256 * 1024

# platform.machine() -> (the architecture name rules use, libseccomp's name for it). A
# profile's archMap adds the compatibility ABIs each runs: without them a 32-bit binary would
# call the kernel's x86 or arm table past the filter.
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
}

_ACTIONS = {
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
}
_OPS = {
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}
_U64 = (1 << 64) - 1


def _kernel() -> tuple[int, int]:
    release = os.uname().release
    parts = release.split("-", 1)[0].split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise InvalidInput(f'seccomp profile: invalid minKernel "{text[:20]}"')
    return int(major), int(minor)


@functools.cache
def _default() -> dict[str, Any]:
    return json.loads(DEFAULT_PROFILE.read_text())


def _check_filter(where: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidInput(f"seccomp profile: {where} must be an object")
    for key in ("caps", "arches"):
        items = value.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InvalidInput(f"seccomp profile: {where}.{key} must be a list of names")
    if value.get("minKernel"):
        _version(str(value["minKernel"]))


def _check_rule(index: int, rule: Any) -> None:
    where = f"syscalls[{index}]"
    if not isinstance(rule, dict):
        raise InvalidInput(f"seccomp profile: {where} must be an object")
    names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
    if rule.get("name") and rule.get("names"):
        raise InvalidInput(f"seccomp profile: {where} has both name and names")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(f"seccomp profile: {where} names no system call")
    if rule.get("action") not in _ACTIONS:
        raise InvalidInput(f"seccomp profile: {where} has an unknown action")
    if rule.get("errnoRet") is not None and not isinstance(rule["errnoRet"], int):
        raise InvalidInput(f"seccomp profile: {where}.errnoRet must be a number")
    args = rule.get("args") or []
    if not isinstance(args, list):
        raise InvalidInput(f"seccomp profile: {where}.args must be a list")
    for arg in args:
        if (
            not isinstance(arg, dict)
            or arg.get("index") not in range(6)
            or arg.get("op") not in _OPS
            or not all(
                isinstance(arg.get(k, 0), int) and 0 <= arg.get(k, 0) <= _U64
                for k in ("value", "valueTwo")
            )
        ):
            raise InvalidInput(f"seccomp profile: {where} has an invalid argument filter")
    _check_filter(f"{where}.includes", rule.get("includes"))
    _check_filter(f"{where}.excludes", rule.get("excludes"))


def parse_profile(text: str) -> dict[str, Any]:
    """A profile in Docker's format (what `docker run --security-opt seccomp=<file>` sends),
    checked enough that a mistake is a refusal at create rather than a failure at start."""
    if len(text.encode()) > MAX_PROFILE_BYTES:
        raise InvalidInput(f"seccomp profile is larger than {MAX_PROFILE_BYTES} bytes")
    try:
        profile = json.loads(text)
    except ValueError as err:
        raise InvalidInput(f"decoding seccomp profile failed: {err}") from None
    if not isinstance(profile, dict):
        raise InvalidInput("seccomp profile must be a JSON object")
    if profile.get("defaultAction") not in _ACTIONS:
        raise InvalidInput("seccomp profile: defaultAction is missing or unknown")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidInput("seccomp profile: use either architectures or archMap, not both")
    if profile.get("listenerPath"):
        # A notify listener is a host socket the runtime would hand the container's calls to.
        raise InvalidInput("seccomp profile: listenerPath is not supported")
    if not set(profile.get("flags") or []) <= _FLAGS:
        raise InvalidInput("seccomp profile: unknown flags")
    rules = profile.get("syscalls") or []
    if not isinstance(rules, list):
        raise InvalidInput("seccomp profile: syscalls must be a list")
    for index, rule in enumerate(rules):
        _check_rule(index, rule)
    return profile


def _applies(rule: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    """Docker's choice of a rule: every `includes` condition holds and no `excludes` one."""
    excludes, includes = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if caps & set(excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and kernel >= _version(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps") or []) <= caps:
        return False
    return not (includes.get("minKernel") and kernel < _version(includes["minKernel"]))


def resolve(
    profile: dict[str, Any],
    capabilities: list[str],
    machine: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI `linux.seccomp` of `profile` for a container whose bounding set is
    `capabilities`, on this machine and kernel unless told otherwise."""
    arch, native = _MACHINES.get(machine or platform.machine(), ("", ""))
    kernel = kernel or _kernel()
    caps = set(capabilities)
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            out["architectures"] = [native, *(entry.get("subArchitectures") or [])]
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, caps, arch, kernel):
            continue
        call: dict[str, Any] = {
            "names": list(rule.get("names") or [rule["name"]]),
            "action": rule["action"],
        }
        if rule.get("errnoRet") is not None:
            call["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            call["args"] = [
                {
                    "index": a["index"],
                    "value": a.get("value", 0),
                    "valueTwo": a.get("valueTwo", 0),
                    "op": a["op"],
                }
                for a in rule["args"]
            ]
        syscalls.append(call)
    out["syscalls"] = syscalls
    return out


def default_profile(capabilities: list[str]) -> dict[str, Any]:
    """The OCI `linux.seccomp` section for a container holding `capabilities`."""
    return resolve(_default(), capabilities)
