import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.probes import engine_answers, http_answers, redis_answers
from dockyard.services import PlatformError, Service
from dockyard.supervisor import Platform, RestartPolicy

SOURCE = Path(__file__).resolve().parent.parent
SLEEPER = Service("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])

# A process that shrugs off SIGTERM and leaves a grandchild that does the same.
STUBBORN = Service(
    "stubborn",
    [
        sys.executable,
        "-c",
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "code = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "time.sleep(120)'\n"
        "subprocess.Popen([sys.executable, '-c', code])\n"
        "time.sleep(120)\n",
    ],
)

ENGINE_STUB = """
import http.server, socketserver, sys

class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"OK" if self.path == "/_ping" else b"no"
        self.send_response(200 if self.path == "/_ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

socketserver.UnixStreamServer(sys.argv[1], Ping).serve_forever()
"""


@pytest.fixture
def node_env(tmp_path: Path) -> dict[str, str]:
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / uuid.uuid4().hex[:8]
    env = {
        "DOCKYARD_ROOT": str(tmp_path / "root"),
        "DOCKYARD_RUN_DIR": str(run),
        "DOCKYARD_NODE": f"test-{uuid.uuid4().hex[:6]}",
        "DOCKYARD_HOST": "127.0.0.1",
        "DOCKYARD_PORT": str(_free_port()),
        "DOCKYARD_REDIS_URL": "",
    }
    yield env
    shutil.rmtree(run, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_in_groups(pgids: set[int]) -> list[int]:
    """Pids of live (non-zombie) processes whose process group is one of `pgids`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z" and int(pgrp) in pgids:
            found.append(int(entry.name))
    return found


def _assert_all_gone(pgids: set[int]) -> None:
    deadline = time.monotonic() + 5
    while _alive_in_groups(pgids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive_in_groups(pgids) == []


def test_it_starts_redis_and_a_process_and_leaves_nothing_behind(node_env, tmp_path):
    sock = Path(node_env["DOCKYARD_RUN_DIR"]) / "redis.sock"
    with Platform(node_env, tmp_path / "logs", services=["redis", SLEEPER]) as platform:
        assert redis_answers(sock)
        assert platform.dead() == []
        pgids = {c.process.pid for c in platform.children}
        assert len(pgids) == 2
    assert not redis_answers(sock)
    _assert_all_gone(pgids)
    assert (tmp_path / "logs" / "redis.log").read_text()


def test_it_kills_what_ignores_sigterm_including_grandchildren(node_env, tmp_path):
    platform = Platform(node_env, tmp_path / "logs", services=[STUBBORN], grace=0.5)
    platform.start()
    platform.wait_ready(timeout=10)
    pgids = {c.process.pid for c in platform.children}
    time.sleep(0.5)
    assert len(_alive_in_groups(pgids)) == 2
    began = time.monotonic()
    platform.stop()
    assert time.monotonic() - began < 5
    _assert_all_gone(pgids)


def test_it_stops_in_reverse_order(node_env, tmp_path):
    """A process that needs redis to shut down cleanly still finds it when told to stop."""
    sock = Path(node_env["DOCKYARD_RUN_DIR"]) / "redis.sock"
    seen = tmp_path / "seen"
    witness = Service(
        "witness",
        [
            sys.executable,
            "-c",
            "import signal, socket, sys, time\n"
            "def bye(*_):\n"
            "    s = socket.socket(socket.AF_UNIX)\n"
            "    s.connect(sys.argv[1])\n"
            "    s.sendall(b'PING\\r\\n')\n"
            "    open(sys.argv[2], 'wb').write(s.recv(16))\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            "time.sleep(120)\n",
            str(sock),
            str(seen),
        ],
    )
    with Platform(node_env, tmp_path / "logs", services=["redis", witness]):
        pass
    assert seen.read_bytes().startswith(b"+PONG")


def test_it_reports_the_last_log_lines_of_a_process_that_dies(node_env, tmp_path):
    crasher = Service(
        "crasher",
        [
            sys.executable,
            "-c",
            "import sys, time; time.sleep(0.3); "
            "print('cannot read config: bad value'); sys.exit(3)",
        ],
    )
    platform = Platform(node_env, tmp_path / "logs", services=["redis", crasher])
    with pytest.raises(PlatformError) as caught, platform:
        pytest.fail("a platform whose process died must not be ready")
    message = str(caught.value)
    assert "crasher" in message
    assert "code 3" in message
    assert "cannot read config: bad value" in message
    assert platform.children == []
    assert not redis_answers(Path(node_env["DOCKYARD_RUN_DIR"]) / "redis.sock")


def test_it_names_the_services_that_are_late(node_env, tmp_path):
    never = Service("never", SLEEPER.argv, probe=lambda: False)
    platform = Platform(node_env, tmp_path / "logs", services=[never])
    platform.start()
    try:
        with pytest.raises(PlatformError, match="not ready after 1s: never"):
            platform.wait_ready(timeout=1)
    finally:
        platform.stop()


def test_it_waits_for_the_engine_socket_to_answer_ping(node_env, tmp_path):
    sock = Path(node_env["DOCKYARD_RUN_DIR"]) / "engine.sock"
    engine = Service(
        "engine",
        [sys.executable, "-c", ENGINE_STUB, str(sock)],
        probe=lambda: engine_answers(sock),
    )
    Path(node_env["DOCKYARD_RUN_DIR"]).mkdir(parents=True)
    with Platform(node_env, tmp_path / "logs", services=[engine]):
        assert engine_answers(sock)
    assert not engine_answers(sock)


def test_it_refuses_to_start_beside_a_running_redis(node_env, tmp_path):
    with Platform(node_env, tmp_path / "logs", services=["redis"]):
        second = Platform(node_env, tmp_path / "logs2", services=["redis"])
        with pytest.raises(PlatformError, match="already answers"):
            second.start()
        assert second.children == []


def test_it_uses_the_configured_redis_instead_of_its_own(node_env, tmp_path):
    node_env["DOCKYARD_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    assert "redis" not in Platform(node_env, tmp_path / "logs").names
    node_env["DOCKYARD_REDIS_URL"] = ""
    assert Platform(node_env, tmp_path / "logs").names == [
        "redis",
        "worker",
        "agent",
        "web",
        "gateway",
    ]


def test_it_rejects_an_unknown_service(node_env, tmp_path):
    with pytest.raises(PlatformError, match="unknown service 'wbe'"):
        Platform(node_env, tmp_path / "logs", services=["wbe"])


def test_it_serves_the_dashboard_with_the_real_web_process(node_env, tmp_path):
    with Platform(node_env, tmp_path / "logs", services=["redis", "web"]):
        assert http_answers("127.0.0.1", int(node_env["DOCKYARD_PORT"]))
    assert not http_answers("127.0.0.1", int(node_env["DOCKYARD_PORT"]))


def _eventually(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` is true; fails the test after `timeout` seconds."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"not true after {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - began


def _holds_for(check: Callable[[], bool], seconds: float) -> None:
    """Fails the test if `check()` turns false within `seconds`."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert check()
        time.sleep(0.05)


def _crasher(name: str, lives: float, code: int = 3) -> Service:
    """A service that is ready at once and exits with `code` after `lives` seconds."""
    return Service(
        name,
        [
            sys.executable,
            "-c",
            f"import sys, time; print('{name} starting', flush=True); time.sleep({lives}); "
            f"print('{name}: lost the disk', flush=True); sys.exit({code})",
        ],
        settle=0,
    )


def test_a_killed_redis_and_web_server_serve_again_on_the_same_socket_and_port(node_env, tmp_path):
    sock = Path(node_env["DOCKYARD_RUN_DIR"]) / "redis.sock"
    port = int(node_env["DOCKYARD_PORT"])
    heard: list[str] = []
    with Platform(
        node_env, tmp_path / "logs", services=["redis", "web"], notify=heard.append
    ) as platform:
        for name, serves in (
            ("redis", lambda: redis_answers(sock)),
            ("web", lambda: http_answers("127.0.0.1", port)),
        ):
            old = platform.pid(name)
            os.kill(old, signal.SIGKILL)
            _eventually(
                lambda name=name, old=old, serves=serves: platform.pid(name) != old and serves(),
                timeout=10,
            )
            assert platform.dead() == []
            assert any(m.startswith(f"{name} was killed by SIGKILL; restarting") for m in heard)
        assert platform.restarts == {"redis": 1, "web": 1}
        assert platform.failure is None
        # The log goes on after the restart rather than starting over.
        web_log = (tmp_path / "logs" / "web.log").read_text()
        assert "restarted: the previous one was killed by SIGKILL" in web_log


def test_a_child_that_keeps_crashing_stops_the_platform_with_the_end_of_its_log(node_env, tmp_path):
    heard: list[str] = []
    policy = RestartPolicy(first_delay=0.05, max_delay=0.2, max_crashes=3, window=60)
    platform = Platform(
        node_env,
        tmp_path / "logs",
        services=["redis", SLEEPER, _crasher("flaky", lives=0.3)],
        restart=policy,
        notify=heard.append,
    )
    with platform:
        _eventually(lambda: platform.failure is not None, timeout=15)
        assert platform.children == []
    assert platform.failure is not None
    assert "flaky died 3 times within 60s" in platform.failure
    assert "exited with code 3" in platform.failure
    assert "flaky: lost the disk" in platform.failure
    assert platform.restarts == {"flaky": 2}
    assert heard[-1] == platform.failure
    assert not redis_answers(Path(node_env["DOCKYARD_RUN_DIR"]) / "redis.sock")


def test_restarts_back_off_and_crashes_long_ago_are_forgiven(node_env, tmp_path):
    assert [RestartPolicy().delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    # Each crash comes after the previous one has left the window, so none gives up.
    policy = RestartPolicy(first_delay=0.05, max_crashes=2, window=0.4)
    heard: list[str] = []
    with Platform(
        node_env,
        tmp_path / "logs",
        services=[_crasher("hiccup", lives=0.6)],
        restart=policy,
        notify=heard.append,
    ) as platform:
        _eventually(lambda: platform.restarts.get("hiccup", 0) >= 3, timeout=15)
        assert platform.failure is None
    assert all("restarting it in 0.05s" in m for m in heard)


def test_a_platform_without_restarts_leaves_the_dead_child_dead(node_env, tmp_path):
    with Platform(
        node_env, tmp_path / "logs", services=[_crasher("once", lives=0.2)], restart=None
    ) as platform:
        _eventually(lambda: platform.dead() == ["once"], timeout=10)
        # Longer than any restart delay the default policy starts with.
        _holds_for(lambda: platform.dead() == ["once"] and platform.restarts == {}, seconds=1)


def test_the_launcher_and_a_nodes_supervisor_stay_small():
    """They outlive everything they start, so they import neither Django, Celery, a database
    client nor the TLS library: a joined node's supervisor holds about 15 MB (bench/cluster.py)."""
    code = (
        "import sys, dockyard.launcher, dockyard.node\n"
        "heavy = {'django', 'celery', 'kombu', 'psycopg', 'redis', 'ssl'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=SOURCE, check=True
    )
    assert done.stdout.strip() == "[]"
