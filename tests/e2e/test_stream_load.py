"""The data path under load: containers printing flat out, followers, the dashboard, docker ps."""

import hashlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest
from websockets.sync.client import connect

pytestmark = [pytest.mark.e2e, pytest.mark.privileged, pytest.mark.slow]

CONTAINERS, FOLLOWERS = 10, 5
SIZE = 20 * 1024 * 1024
LINE = b"x" * 99 + b"\n"
# A session for the dashboard's socket, as the admin the platform made.
SESSION_SCRIPT = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
User = get_user_model()
admin = User.objects.filter(username="loadadmin").first()
if admin is None:
    admin = User.objects.create_superuser("loadadmin", "", "unused-Password-1")
session = SessionStore()
session[SESSION_KEY] = str(admin.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
session.create()
print(session.session_key)
"""


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def expected() -> tuple[int, str]:
    body = (LINE * (SIZE // len(LINE) + 1))[:SIZE]
    return len(body) + len(b"the-end\n"), hashlib.sha256(body + b"the-end\n").hexdigest()


def hashed(argv: list[str], env: dict, out: dict) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    digest, count = hashlib.sha256(), 0
    while chunk := proc.stdout.read(1 << 20):
        digest.update(chunk)
        count += len(chunk)
    out.update(code=proc.wait(), count=count, sha=digest.hexdigest())


def dashboard(platform, cid: str, session: str, seen: dict) -> None:
    """The Logs tab's socket, read to its end: the container's last line must be there."""
    url = platform.web_url.replace("http://", "ws://") + f"/ws/containers/{cid}/logs/?tail=10"
    headers = {"Cookie": f"sessionid={session}", "Origin": platform.web_url}
    text = ""
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        # The socket closes once the container has exited and its log is sent.
        for raw in ws:
            message = json.loads(raw)
            text = (text + "".join(run[1] for run in message.get("chunks", [])))[-4096:]
            seen["messages"] = seen.get("messages", 0) + 1
    seen["ended"] = text.endswith("the-end\n")


def test_ten_writers_five_followers_and_the_dashboard_lose_nothing(platform):
    session = platform.manage("shell", "-c", SESSION_SCRIPT).strip().splitlines()[-1]
    env = {**os.environ, "DOCKER_HOST": platform.docker_host}
    script = f"sleep 2; yes {LINE.decode().strip()} | head -c {SIZE}; echo the-end"
    names = [f"load{i}{uuid.uuid4().hex[:6]}" for i in range(CONTAINERS)]
    try:
        ids = []
        for n in names:
            done = platform.docker("run", "-d", "--name", n, "busybox", "sh", "-c", script)
            assert done.returncode == 0, done.stderr
            ids.append(done.stdout.strip())
        followed = [{} for _ in range(FOLLOWERS)]
        threads = [
            threading.Thread(target=hashed, args=(["docker", "logs", "-f", n], env, out))
            for n, out in zip(names, followed, strict=False)
        ]
        seen: dict = {}
        threads.append(threading.Thread(target=dashboard, args=(platform, ids[-1], session, seen)))
        for t in threads:
            t.start()
        answers = []
        api = UnixHTTP(str(platform.socket))
        while any(t.is_alive() for t in threads[:FOLLOWERS]):
            began = time.monotonic()
            api.request("GET", "/v1.43/containers/json")
            response = api.getresponse()
            response.read()
            answers.append(time.monotonic() - began)
            assert response.status == 200
            time.sleep(0.2)
        for t in threads:
            t.join(240)
        want_count, want_sha = expected()
        assert followed == [{"code": 0, "count": want_count, "sha": want_sha}] * FOLLOWERS
        for n in names:
            whole: dict = {}
            hashed(["docker", "logs", n], env, whole)
            assert whole == {"code": 0, "count": want_count, "sha": want_sha}, n
        assert seen.get("ended"), seen
        # docker ps answers within 100 ms while all of that runs, and never stalls (the machine
        # has two cores and ten containers writing flat out).
        answers.sort()
        assert answers[len(answers) // 2] < 0.1 and answers[-1] < 1.0, answers
    finally:
        platform.docker("rm", "-f", *names)
