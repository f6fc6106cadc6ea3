"""docker-py, the other client users script Docker with, against the engine socket."""

import time
import uuid

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


@pytest.fixture
def client(platform):
    c = docker.DockerClient(base_url=platform.docker_host, version="auto")
    yield c
    c.close()


def name() -> str:
    return f"py{uuid.uuid4().hex[:8]}"


def test_run_returns_output(client):
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"


def test_nonzero_exit_raises_with_stderr(client):
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 4"], remove=True)
    assert failed.value.exit_status == 4 and b"bad" in failed.value.stderr


def test_detached_container_exec_logs_and_wait(client):
    c = client.containers.run(
        "busybox", ["sh", "-c", "echo started; sleep 300"], detach=True, name=name()
    )
    try:
        c.reload()
        assert c.status == "running"
        code, out = c.exec_run(["sh", "-c", "echo $((6*7))"])
        assert (code, out) == (0, b"42\n")
        deadline = time.time() + 10
        while b"started" not in c.logs() and time.time() < deadline:
            time.sleep(0.1)
        assert c.logs() == b"started\n"
        c.kill()
        assert c.wait(timeout=30)["StatusCode"] == 137
    finally:
        c.remove(force=True)


def test_pause_rename_and_stats(client):
    n = name()
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=n)
    try:
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.reload()
        assert c.status == "running"
        stats = c.stats(stream=False)
        assert stats["memory_stats"]["usage"] > 0
        assert "rx_bytes" in stats["networks"]["eth0"]
        c.rename(n + "x")
        assert client.containers.get(n + "x").id == c.id
    finally:
        c.remove(force=True)


def test_memory_limit_ends_in_oom_killed(client):
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "x=a; while true; do x=$x$x; done"],
        detach=True,
        mem_limit="16m",
        memswap_limit="16m",
    )
    try:
        assert c.wait(timeout=60)["StatusCode"] == 137
        c.reload()
        assert c.attrs["State"]["OOMKilled"] is True
    finally:
        c.remove(force=True)


def test_wait_for_removal_of_an_auto_removed_container(client):
    c = client.containers.run("busybox", ["sleep", "1"], detach=True, auto_remove=True)
    assert c.wait(condition="removed", timeout=30)["StatusCode"] == 0
    with pytest.raises(NotFound):
        client.containers.get(c.id)


def test_events_report_a_container_life(client):
    since = int(time.time()) - 1
    c = client.containers.run("busybox", ["true"], detach=True, name=name())
    c.wait(timeout=30)
    c.remove()
    seen = []
    for event in client.events(
        since=since, until=int(time.time()) + 2, decode=True, filters={"container": c.id}
    ):
        seen.append(event["Action"])
    assert {"create", "start", "die", "destroy"} <= set(seen)


def test_images_inspect_tag_and_remove(client):
    image = client.images.get("busybox")
    assert image.attrs["Config"]["Cmd"] == ["sh"]
    tag = f"pytag{uuid.uuid4().hex[:6]}"
    assert image.tag(tag, "v1")
    assert f"{tag}:v1" in client.images.get(f"{tag}:v1").tags
    client.images.remove(f"{tag}:v1")
    with pytest.raises(ImageNotFound):
        client.images.get(f"{tag}:v1")


def test_malformed_requests_get_docker_errors_not_crashes(client, platform):
    api = client.api
    for body in (b"{not json", b"[]", b'{"Image": 5}'):
        response = api._post(
            api._url("/containers/create"), data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert "message" in response.json()
    with pytest.raises(APIError) as too_new:
        docker.APIClient(base_url=platform.docker_host, version="1.99").containers()
    assert "too new" in str(too_new.value)
