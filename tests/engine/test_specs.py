"""Docker's rules for merging a create request with the image's config."""

import pytest

from engine.api.schemas import ContainerCreate, ExecCreate
from engine.errors import BadRequest
from engine.specs import container_config, exec_spec, merge_env, runtime_spec

IMAGE = {
    "config": {
        "Env": ["PATH=/bin", "LANG=C"],
        "Cmd": ["sh"],
        "WorkingDir": "/srv",
        "User": "1000",
        "StopSignal": "SIGQUIT",
        "Labels": {"from": "image"},
    }
}
CID = "ab" * 32


def config(**body):
    return container_config(ContainerCreate(Image="busybox", **body), IMAGE, CID)


def test_image_command_runs_when_none_is_given():
    c = config()
    assert c["Cmd"] == ["sh"] and c["Entrypoint"] is None
    assert runtime_spec(c, {})["args"] == ["sh"]


def test_a_given_command_replaces_the_image_command():
    assert runtime_spec(config(Cmd=["echo", "hi"]), {})["args"] == ["echo", "hi"]


def test_an_entrypoint_override_drops_the_image_command():
    c = config(Entrypoint=["/bin/env"])
    assert runtime_spec(c, {})["args"] == ["/bin/env"]


def test_a_bare_string_command_is_one_argument():
    assert config(Cmd="true")["Cmd"] == ["true"]


def test_request_env_overrides_image_env_by_name():
    c = config(Env=["LANG=en_US.UTF-8", "EXTRA=1"])
    assert c["Env"] == ["PATH=/bin", "LANG=en_US.UTF-8", "EXTRA=1"]


def test_path_is_always_set():
    assert merge_env([], ["A=1"])[0].startswith("PATH=")


def test_image_defaults_fill_what_the_request_leaves_out():
    c = config()
    assert (c["WorkingDir"], c["User"], c["StopSignal"]) == ("/srv", "1000", "SIGQUIT")
    assert c["Hostname"] == CID[:12]
    assert c["Labels"] == {"from": "image"}


def test_no_command_anywhere_is_refused():
    with pytest.raises(BadRequest, match="no command"):
        container_config(ContainerCreate(Image="scratch"), {"config": {}}, CID)


def test_limits_pass_to_the_runtime():
    spec = runtime_spec(config(), {"Memory": 64 << 20, "PidsLimit": -1, "CpuShares": 512})
    assert spec["memory"] == 64 << 20 and spec["pids_limit"] == 0 and spec["cpu_shares"] == 512


@pytest.mark.parametrize(
    ("asked", "default", "limit"),
    [(None, 4096, 4096), (0, 4096, 4096), (64, 4096, 64), (-1, 4096, 0), (None, 0, 0), (99, 0, 99)],
)
def test_the_platform_s_pids_limit_applies_unless_the_request_names_one(asked, default, limit):
    assert runtime_spec(config(), {"PidsLimit": asked}, default)["pids_limit"] == limit


def test_exec_inherits_the_container_environment():
    body = ExecCreate(Cmd=["env"], Env=["X=1"])
    spec = exec_spec(body, config())
    assert "X=1" in spec["env"] and "LANG=C" in spec["env"] and spec["cwd"] == "/srv"


def test_exec_without_a_command_is_refused():
    with pytest.raises(BadRequest):
        exec_spec(ExecCreate(), config())


def test_seccomp_is_on_unless_asked_off():
    assert runtime_spec(config(), {})["seccomp"] is True
    for option in ("seccomp=unconfined", "seccomp:unconfined"):
        assert runtime_spec(config(), {"SecurityOpt": [option]})["seccomp"] is False
    allowed = ["no-new-privileges", "apparmor=unconfined", "label=disable"]
    assert runtime_spec(config(), {"SecurityOpt": allowed})["seccomp"] is True


def test_a_profile_of_one_s_own_reaches_the_runtime_whole():
    # What the docker CLI sends for `--security-opt seccomp=profile.json`: the JSON itself,
    # whose own colons and equals signs must not be taken for the option's separator.
    profile = (
        '{"defaultAction":"SCMP_ACT_ERRNO",'
        '"syscalls":[{"names":["a=b:c"],"action":"SCMP_ACT_ALLOW"}]}'
    )
    spec = runtime_spec(config(), {"SecurityOpt": [f"seccomp={profile}"]})
    assert spec["seccomp"] is True and spec["seccomp_profile"] == profile
    for option in ("seccomp=builtin", "seccomp="):
        assert runtime_spec(config(), {"SecurityOpt": [option]})["seccomp_profile"] == ""


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ('seccomp={"defaultAction": "SCMP_ACT_NOPE"}', "defaultAction"),
        ("seccomp=/path/on/the/server.json", "decoding seccomp profile failed"),
        ("apparmor=docker-default", "invalid --security-opt"),
        ("no-new-privileges=false", "invalid --security-opt"),
    ],
)
def test_security_options_that_cannot_be_honoured_are_refused(option, message):
    with pytest.raises(BadRequest, match=message):
        runtime_spec(config(), {"SecurityOpt": [option]})


def test_log_config_sets_rotation_and_bad_options_are_refused():
    assert runtime_spec(config(), {})["log_max_size"] == 0
    given = {"LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}}
    spec = runtime_spec(config(), given)
    assert (spec["log_driver"], spec["log_max_size"], spec["log_max_files"]) == (
        "k8s-file",
        10_000_000,
        3,
    )
    with pytest.raises(BadRequest, match="max-file cannot be less than 1"):
        runtime_spec(config(), {"LogConfig": {"Config": {"max-size": "1m", "max-file": "0"}}})
