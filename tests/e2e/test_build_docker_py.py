"""A failed build ends its JSON stream with Docker's error line, which docker-py turns into
BuildError and the docker CLI prints before exiting non-zero; a built image's inspect has
the keys Docker writes (docker-compose 1.29 reads them)."""

import uuid

import docker
import pytest
from docker.errors import BuildError

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


@pytest.fixture
def client(platform):
    c = docker.DockerClient(base_url=platform.docker_host, version="auto")
    yield c
    c.close()


def tag() -> str:
    return f"pybuild-{uuid.uuid4().hex[:8]}"


def build_from(client, tmp_path, dockerfile: str, **kwargs):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return client.images.build(path=str(tmp_path), tag=tag(), rm=True, **kwargs)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM busybox\nRUN echo about to fail && exit 3\n", "returned a non-zero code: 3"),
        ("FROM nosuchbase-for-this-test\n", "pull access denied for nosuchbase-for-this-test"),
        ("FROM busybox\nCOPY missing.txt /\n", "file not found in build context"),
        ("FROM busybox\nBOGUS instruction\n", "unknown instruction"),
    ],
    ids=["run-exit-code", "missing-base", "missing-source", "bad-dockerfile"],
)
def test_docker_py_raises_build_error_with_the_message(client, tmp_path, dockerfile, message):
    with pytest.raises(BuildError) as failed:
        build_from(client, tmp_path, dockerfile)
    assert message in failed.value.msg.lower() or message in failed.value.msg
    last = list(failed.value.build_log)[-1]
    assert set(last) == {"errorDetail", "error"} and last["error"] == failed.value.msg


def test_the_output_before_the_failure_is_in_the_build_log(client, tmp_path):
    with pytest.raises(BuildError) as failed:
        build_from(client, tmp_path, "FROM busybox\nRUN echo about to fail && exit 3\n")
    streamed = "".join(line.get("stream", "") for line in failed.value.build_log)
    assert "about to fail" in streamed and "Step 2/2" in streamed


def test_a_context_the_node_refuses_is_a_build_error_too(client, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    with pytest.raises(BuildError, match="Cannot locate specified Dockerfile: Other"):
        client.images.build(path=str(tmp_path), dockerfile="Other", tag=tag())


def test_the_docker_cli_prints_the_error_and_exits_non_zero(platform, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY missing.txt /\n")
    out = platform.docker("build", "-t", tag(), str(tmp_path))
    assert out.returncode == 1
    assert "COPY failed: file not found in build context" in out.stderr


def test_image_inspect_has_the_config_keys_docker_writes(client, tmp_path):
    image, _ = build_from(client, tmp_path, 'FROM busybox\nCMD ["sh"]\n')
    exposed, _ = build_from(client, tmp_path, "FROM busybox\nEXPOSE 80 53/udp\nVOLUME /data\n")
    try:
        plain = client.api.inspect_image(image.id)
        assert plain["Container"] == ""
        assert plain["Config"]["OnBuild"] is None and plain["Config"]["Volumes"] is None
        assert "ExposedPorts" not in plain["Config"]
        assert plain["ContainerConfig"]["Cmd"] == ["sh"]
        with_ports = client.api.inspect_image(exposed.id)
        assert with_ports["Config"]["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
        assert with_ports["Config"]["Volumes"] == {"/data": {}}
        # What docker-compose 1.29 reads to keep a service's anonymous volumes.
        assert with_ports["ContainerConfig"]["Volumes"] == {"/data": {}}
    finally:
        client.images.remove(image.id, force=True)
        client.images.remove(exposed.id, force=True)
