"""The default seccomp profile and how a profile resolves for a container's capabilities."""

import json

import pytest

from runtime.containers import seccomp
from runtime.containers.capabilities import DEFAULT_CAPS
from runtime.errors import InvalidInput

from .probe import CLONE_NEWNS, CLONE_NEWUSER

# Docker's mask of every CLONE_NEW* flag a clone without CAP_SYS_ADMIN must leave clear.
CLONE_NAMESPACE_FLAGS = 0x7E020000
EPERM, ENOSYS = 1, 38


def rules_for(profile: dict, name: str) -> list[dict]:
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


def x86(capabilities: list[str]) -> dict:
    return seccomp.resolve(
        json.loads(seccomp.DEFAULT_PROFILE.read_text()), capabilities, "x86_64", (6, 1)
    )


def test_the_default_refuses_what_is_not_listed_with_eperm():
    profile = x86(DEFAULT_CAPS)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == EPERM
    # The 32-bit ABIs are filtered too, or a 32-bit binary would call past the filter.
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {
        n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]
    }
    assert {"read", "execve", "openat", "mknodat", "arch_prctl", "ptrace"} <= allowed
    refused = {
        "unshare", "setns", "mount", "umount2", "pivot_root", "keyctl", "add_key", "bpf",
        "perf_event_open", "userfaultfd", "init_module", "kexec_load", "open_by_handle_at",
        "fsopen", "fsconfig", "io_uring_setup", "acct", "s390_runtime_instr",
    }  # fmt: skip
    assert not refused & allowed


def test_clone_is_allowed_only_without_namespace_flags_and_clone3_answers_enosys():
    profile = x86(DEFAULT_CAPS)
    (clone,) = rules_for(profile, "clone")
    assert clone["action"] == "SCMP_ACT_ALLOW"
    assert clone["args"] == [
        {"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
    ]
    assert CLONE_NEWUSER & CLONE_NAMESPACE_FLAGS and CLONE_NEWNS & CLONE_NAMESPACE_FLAGS
    (clone3,) = rules_for(profile, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == ENOSYS


def test_socket_is_allowed_for_every_family_but_vsock():
    (socket,) = rules_for(x86(DEFAULT_CAPS), "socket")
    assert socket["args"] == [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]


def test_personality_is_allowed_only_for_docker_s_values():
    values = sorted(r["args"][0]["value"] for r in rules_for(x86(DEFAULT_CAPS), "personality"))
    assert values == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_capabilities_lift_the_refusals_they_lift_in_docker():
    admin = x86([*DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    unconditional = [r for r in admin["syscalls"] if not r.get("args")]
    lifted = {n for r in unconditional if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert {"clone", "clone3", "unshare", "setns", "mount", "bpf"} <= lifted
    assert not [r for r in admin["syscalls"] if r["action"] == "SCMP_ACT_ERRNO"]
    ptrace = x86([*DEFAULT_CAPS, "CAP_SYS_PTRACE"])
    assert "process_vm_readv" in {n for r in ptrace["syscalls"] for n in r["names"]}
    assert "process_vm_readv" not in {n for r in x86(DEFAULT_CAPS)["syscalls"] for n in r["names"]}


def test_rules_follow_the_architecture():
    arm = seccomp.resolve(
        json.loads(seccomp.DEFAULT_PROFILE.read_text()), DEFAULT_CAPS, "aarch64", (6, 1)
    )
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    names = {n for r in arm["syscalls"] for n in r["names"]}
    assert "set_tls" in names and "arch_prctl" not in names


def test_a_custom_profile_resolves_like_the_default():
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {
                    "name": "chroot",
                    "action": "SCMP_ACT_ERRNO",
                    "excludes": {"caps": ["CAP_SYS_CHROOT"]},
                },
            ],
        }
    )
    resolved = seccomp.resolve(seccomp.parse_profile(text), DEFAULT_CAPS, "x86_64", (6, 1))
    assert resolved == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "decoding seccomp profile failed"),
        ("[]", "must be a JSON object"),
        ('{"syscalls": []}', "defaultAction"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}', "listenerPath"),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}',
            "names",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],'
            ' "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}',
            "argument filter",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],'
            ' "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
            "either architectures or archMap",
        ),
        ("{" + " " * seccomp.MAX_PROFILE_BYTES + "}", "larger than"),
    ],
)
def test_a_profile_that_cannot_be_applied_is_refused(text, message):
    with pytest.raises(InvalidInput, match=message):
        seccomp.parse_profile(text)
