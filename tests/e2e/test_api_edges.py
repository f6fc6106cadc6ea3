"""The Engine API's edges, as the docker CLI and docker-py meet them on a real platform.

Unknown routes answer dockerd's JSON 404 on the engine socket and on TCP; swarm routes answer
as a dockerd outside a swarm, so clients that probe swarm carry on.
"""

import http.client
import json
import socket
import urllib.error
import urllib.request
import uuid

import docker
import pytest
from docker.errors import APIError

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

NOT_A_MANAGER = "This node is not a swarm manager. Use"
UNKNOWN = ["/v1.47/nosuchroute", "/nosuchroute", "/v1.47/containers/json/extra", "/v1.47/plugins"]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self._path)


def on_socket(platform, method: str, path: str) -> tuple[int, str, bytes]:
    conn = UnixConnection(str(platform.socket))
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def on_tcp(platform, method: str, path: str, token: str | None = None):
    request = urllib.request.Request(platform.web_url + path, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


@pytest.fixture(scope="module")
def token(platform) -> str:
    """A personal access token of charlie, a user who is no admin."""
    user = f"charlie{uuid.uuid4().hex[:6]}"
    setup = (
        "from django.contrib.auth.models import User\n"
        "from accounts.services import do_create_token\n"
        f"user = User.objects.create_user({user!r})\n"
        "print(do_create_token(user, 'cli', ['read', 'write'])[1])\n"
    )
    return platform.manage("shell", "-c", setup).strip().splitlines()[-1]


@pytest.fixture
def client(platform):
    c = docker.DockerClient(base_url=platform.docker_host, version="auto")
    yield c
    c.close()


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_route_on_the_socket_is_json_page_not_found(platform, method, path):
    status, content_type, body = on_socket(platform, method, path)
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body) == {"message": "page not found"}


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_route_on_tcp_is_json_page_not_found(platform, token, method, path):
    for credential in (token, None):
        status, content_type, body = on_tcp(platform, method, path, credential)
        assert (status, content_type) == (404, "application/json")
        assert json.loads(body) == {"message": "page not found"}


def test_docker_py_hears_page_not_found(client):
    response = client.api._get(client.api._url("/nosuchroute"))
    assert response.status_code == 404
    assert response.json() == {"message": "page not found"}


@pytest.mark.parametrize(
    "command",
    [
        ["swarm", "init"],
        ["swarm", "join-token", "worker"],
        ["service", "ls"],
        ["service", "create", "busybox"],
        ["secret", "ls"],
        ["config", "ls"],
        ["stack", "ls"],
    ],
    ids=" ".join,
)
def test_swarm_commands_say_this_node_is_not_a_manager(platform, command):
    done = platform.docker(*command)
    assert done.returncode != 0
    assert NOT_A_MANAGER in done.stderr, done.stderr
    assert "page not found" not in done.stderr


def test_swarm_leave_says_this_node_is_in_no_swarm(platform):
    done = platform.docker("swarm", "leave", "--force")
    assert done.returncode == 1
    assert "This node is not part of a swarm" in done.stderr


def test_docker_info_says_the_swarm_is_inactive(platform):
    done = platform.docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    assert (done.returncode, done.stdout.strip()) == (0, "inactive")
    assert "Swarm: inactive" in platform.docker("info").stdout


def test_ping_carries_the_swarm_state(platform, token):
    status, _, _ = on_socket(platform, "GET", "/_ping")
    assert status == 200
    conn = UnixConnection(str(platform.socket))
    try:
        conn.request("HEAD", "/_ping")
        assert conn.getresponse().getheader("Swarm") == "inactive"
    finally:
        conn.close()


def test_docker_py_swarm_probes_fail_with_503(client):
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    for probe in (client.services.list, client.swarm.reload):
        with pytest.raises(APIError) as refused:
            probe()
        assert refused.value.status_code == 503
        assert NOT_A_MANAGER in refused.value.explanation


@pytest.fixture
def sleeper(platform):
    name = f"edge{uuid.uuid4().hex[:8]}"
    started = platform.docker("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    yield name
    platform.docker("rm", "-f", name)


@pytest.mark.parametrize("tty", [[], ["-t"]], ids=["pipes", "tty"])
def test_exec_of_a_file_that_is_not_executable_exits_126(platform, sleeper, tty):
    done = platform.docker("exec", *tty, sleeper, "/etc/passwd")
    assert done.returncode == 126, (done.stdout, done.stderr)
    assert 'exec: "/etc/passwd": permission denied' in done.stdout + done.stderr


@pytest.mark.parametrize("tty", [[], ["-t"]], ids=["pipes", "tty"])
def test_exec_of_a_missing_command_exits_127(platform, sleeper, tty):
    done = platform.docker("exec", *tty, sleeper, "nosuchcommand")
    assert done.returncode == 127, (done.stdout, done.stderr)
    out = done.stdout + done.stderr
    assert 'exec: "nosuchcommand": executable file not found in $PATH' in out


def test_exec_of_a_missing_path_exits_127(platform, sleeper):
    done = platform.docker("exec", sleeper, "/no/such/file")
    assert done.returncode == 127
    assert 'exec: "/no/such/file": stat /no/such/file: no such file or directory' in done.stdout


def test_docker_py_exec_run_reports_126_and_127(client, sleeper):
    container = client.containers.get(sleeper)
    # The words are checked through the docker CLI above; docker-py's output of a failed exec
    # once came back empty on a loaded CI machine, which is not explained yet.
    assert container.exec_run(["/etc/passwd"]).exit_code == 126
    assert container.exec_run(["nosuchcommand"]).exit_code == 127


def test_a_command_that_exits_126_itself_is_not_rewritten(platform, sleeper):
    done = platform.docker("exec", sleeper, "sh", "-c", "exit 126")
    assert (done.returncode, done.stdout, done.stderr) == (126, "", "")
