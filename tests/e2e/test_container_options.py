"""Container options through the docker CLI and docker-py: `--mac-address`, `--group-add`,
`--link` and its environment, and what `docker diff` leaves out."""

import json
import os
import subprocess
import uuid

import docker
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


TENANT = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
user = User.objects.create_user("linker-{tag}")
print(do_create_token(user, "cli", ["read", "write"])[1])
"""


@pytest.fixture(scope="module")
def mallory(platform, tmp_path_factory):
    """The docker CLI of a user without admin rights, over TCP with a personal token."""
    token = platform.manage("shell", "-c", TENANT.format(tag=uuid.uuid4().hex[:8]))
    config = tmp_path_factory.mktemp("mallory-docker-config")
    headers = {"HttpHeaders": {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}}
    (config / "config.json").write_text(json.dumps(headers))
    env = {
        **os.environ,
        "DOCKER_HOST": f"tcp://127.0.0.1:{platform.env['DOCKYARD_PORT']}",
        "DOCKER_CONFIG": str(config),
    }
    for name in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
        env.pop(name, None)

    def docker_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=env)

    return docker_cli


def ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_diff_leaves_out_the_files_the_platform_mounts(platform):
    name = unique("diff")
    try:
        ok(platform.docker("run", "--name", name, "busybox", "true"))
        assert ok(platform.docker("diff", name)) == ""
        ok(platform.docker("start", "-a", name))
        ok(platform.docker("run", "--name", f"{name}-2", "busybox", "touch", "/etc/motd"))
        assert ok(platform.docker("diff", f"{name}-2")).splitlines() == ["C /etc", "A /etc/motd"]
    finally:
        platform.docker("rm", "-f", name, f"{name}-2")


def test_group_add_gives_the_process_named_and_numbered_groups(platform):
    out = ok(
        platform.docker(
            "run",
            "--rm",
            "--user",
            "65534",
            "--group-add",
            "daemon",
            "--group-add",
            "4242",
            "busybox",
            "id",
        )
    )
    assert "groups=" in out, out
    groups = out.split("groups=", 1)[1]
    assert "(daemon)" in groups and "4242" in groups
    refused = platform.docker("run", "--rm", "--group-add", "no-such-group", "busybox", "id")
    assert refused.returncode != 0
    assert "unable to find group no-such-group" in refused.stderr
    client = docker.DockerClient(base_url=platform.docker_host)
    try:
        out = client.containers.run(
            "busybox", "id -G", user="65534", group_add=["4243", "daemon"], remove=True
        )
        assert sorted(out.split()[1:]) == [b"1", b"4243"]
    finally:
        client.close()


def test_link_names_the_other_container_and_sets_dockers_variables(platform):
    web, me = unique("web"), unique("me")
    try:
        ok(
            platform.docker(
                "run",
                "-d",
                "--name",
                web,
                "--expose",
                "80",
                "--expose",
                "81/udp",
                "-e",
                "GREETING=hello",
                "busybox",
                "sleep",
                "300",
            )
        )
        shown = ok(
            platform.docker(
                "inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.Config.Hostname}}", web
            )
        )
        ip, hostname = shown.split()
        script = "grep -w db /etc/hosts; env | grep ^DB_ | sort"
        script += "; ping -c1 -W2 db >/dev/null && echo reached"
        out = ok(
            platform.docker(
                "run", "--rm", "--name", me, "--link", f"{web}:db", "busybox", "sh", "-c", script
            )
        )
        lines = out.splitlines()
        assert lines[0].split() == [ip, "db", hostname, web]
        env = set(lines[1:-1])
        assert f"DB_PORT=tcp://{ip}:80" in env
        assert f"DB_PORT_80_TCP=tcp://{ip}:80" in env
        assert f"DB_PORT_80_TCP_ADDR={ip}" in env
        assert "DB_PORT_80_TCP_PORT=80" in env and "DB_PORT_80_TCP_PROTO=tcp" in env
        assert f"DB_PORT_81_UDP=udp://{ip}:81" in env
        assert f"DB_NAME=/{me}/db" in env
        assert "DB_ENV_GREETING=hello" in env
        assert not any(e.startswith("DB_ENV_PATH=") for e in env)
        assert lines[-1] == "reached"
    finally:
        platform.docker("rm", "-f", web, me)


def test_a_link_follows_its_target_made_again_at_the_next_start(platform):
    db, app = unique("db"), unique("app")

    def address() -> str:
        return ok(platform.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", db)).strip()

    script = "grep -w data /etc/hosts | cut -f1; echo $DATA_PORT_80_TCP_ADDR"
    try:
        ok(platform.docker("run", "-d", "--name", db, "--expose", "80", "busybox", "sleep", "300"))
        first = address()
        ok(
            platform.docker(
                "create", "--name", app, "--link", f"{db}:data", "busybox", "sh", "-c", script
            )
        )
        assert ok(platform.docker("start", "-a", app)).split() == [first, first]
        ok(platform.docker("rm", "-f", db))
        ok(platform.docker("run", "-d", "--name", db, "--expose", "80", "busybox", "sleep", "300"))
        second = address()
        assert second != first
        assert ok(platform.docker("start", "-a", app)).split() == [second, second]
    finally:
        platform.docker("rm", "-f", db, app)


def test_links_with_docker_py_are_kept_and_refused_without_a_running_target(platform):
    client = docker.DockerClient(base_url=platform.docker_host)
    target, linker = unique("db"), unique("app")
    try:
        db = client.containers.run("busybox", "sleep 300", name=target, detach=True)
        app = client.containers.create(
            "busybox", "sh -c 'echo $SQL_NAME'", name=linker, links={target: "sql"}
        )
        assert app.attrs["HostConfig"]["Links"] == [f"/{target}:/{linker}/sql"]
        app.start()
        assert app.wait(timeout=30)["StatusCode"] == 0
        assert app.logs() == f"/{linker}/sql\n".encode()
        db.kill()
        with pytest.raises(docker.errors.APIError) as refused:
            app.start()
        assert refused.value.status_code == 409
        assert "Cannot link to a non running container" in str(refused.value)
        with pytest.raises(docker.errors.APIError) as missing:
            client.containers.create("busybox", "true", links={"no-such-container": "x"})
        assert missing.value.status_code == 400
    finally:
        for name in (linker, target):
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        client.close()


def test_mac_address_is_the_endpoints_and_inspect_shows_it(platform):
    name = unique("mac")
    mac = "02:42:ac:11:00:99"
    try:
        ok(
            platform.docker(
                "run", "-d", "--name", name, "--mac-address", mac, "busybox", "sleep", "300"
            )
        )
        inside = ok(platform.docker("exec", name, "cat", "/sys/class/net/eth0/address"))
        assert inside.strip() == mac
        shown = ok(
            platform.docker(
                "inspect",
                "-f",
                "{{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.MacAddress}}",
                name,
            )
        )
        assert shown.split() == [mac, mac]
        ok(platform.docker("restart", "-t", "0", name))
        again = ok(platform.docker("exec", name, "cat", "/sys/class/net/eth0/address"))
        assert again.strip() == mac
        multicast = platform.docker("run", "--rm", "--mac-address", "01:00:5e:00:00:01", "busybox")
        assert multicast.returncode != 0 and "invalid MAC address" in multicast.stderr
    finally:
        platform.docker("rm", "-f", name)


@pytest.mark.parametrize("mac", ["02:42:zz:11:00:99", "02:42:ac:11:00", "not-a-mac"])
def test_an_invalid_mac_address_is_a_400_with_a_message(platform, mac):
    client = docker.APIClient(base_url=platform.docker_host)
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            client.create_container("busybox", "true", mac_address=mac)
        assert refused.value.status_code == 400
        assert refused.value.response.json() == {"message": f"invalid MAC address {mac}"}
    finally:
        client.close()


def test_a_user_cannot_link_to_a_container_that_is_not_theirs(platform, mallory):
    secret = unique("vault")
    try:
        ok(
            platform.docker(
                "run",
                "-d",
                "--name",
                secret,
                "-e",
                "VAULT_KEY=hunter2",
                "--expose",
                "5432",
                "busybox",
                "sleep",
                "300",
            )
        )
        cid = ok(platform.docker("inspect", "-f", "{{.Id}}", secret)).strip()
        for target in (secret, cid, cid[:12]):
            stolen = mallory("run", "--rm", "--link", f"{target}:v", "busybox", "env")
            assert stolen.returncode != 0
            assert "hunter2" not in stolen.stdout and "V_PORT" not in stolen.stdout
            assert f"could not get container for {target}: No such container" in stolen.stderr
            assert "Pulling" not in stolen.stderr
        missing = mallory("run", "--rm", "--link", "no-such-vault:v", "busybox", "env")
        assert missing.returncode != 0
        assert "could not get container for no-such-vault: No such container" in missing.stderr
    finally:
        platform.docker("rm", "-f", secret)
