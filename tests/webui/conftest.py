"""alice, bob (her teammate) and charlie (an outsider), in the ORM or on a whole platform."""

import contextlib
import http.cookiejar
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.sync.client import ClientConnection, connect

from accounts.services import do_add_member, do_create_team
from tests.conftest import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The default hasher is slow on purpose; every sign-in here checks a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def acme(alice, bob):
    team = do_create_team("acme", alice)
    do_add_member(team, bob, "write")
    return team


USERS_SCRIPT = f"""
from django.contrib.auth.models import User
from accounts.services import do_add_member, do_create_team
alice = User.objects.create_user("alice", password="{PASSWORD}")
bob = User.objects.create_user("bob", password="{PASSWORD}")
User.objects.create_user("charlie", password="{PASSWORD}")
do_add_member(do_create_team("acme", alice), bob, "write")
"""


@pytest.fixture(scope="session")
def web_platform(tmp_path_factory):
    """The whole platform with its web process, alice, bob and charlie."""
    from dockyard.ephemeral import ephemeral_platform
    from runtime.containers import lifecycle
    from runtime.paths import RuntimePaths

    if os.geteuid() != 0 or not shutil.which("crun") or not os.path.exists(CHROMIUM):
        pytest.skip("needs root, crun and chromium")
    root = tmp_path_factory.mktemp("web-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"w{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "gateway", "web")
    try:
        with ephemeral_platform(root, run, services=services) as running:
            running.manage("shell", "-c", USERS_SCRIPT)
            yield running
    finally:
        paths = RuntimePaths(root=root, run=run)
        for cid in lifecycle.list_ids(paths):
            with contextlib.suppress(Exception):
                lifecycle.remove(paths, cid, force=True)


@pytest.fixture(scope="session")
def browser(web_platform):
    # Depends on the platform so that it closes first: both tear down with an event loop.
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        # launch() gives the browser a fresh profile directory of its own every time.
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def signed_in(browser, web_platform):
    """`signed_in("alice")` is a fresh page of a fresh browser context, signed in."""
    contexts = []

    def sign_in(username: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{web_platform.web_url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{web_platform.web_url}/")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer itself: the dashboard tells where things went with one."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


class WebSession:
    """A user signed in to the web process over plain HTTP, for tests without a browser."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _KeepRedirects()
        )
        self.get("/login/").close()
        status, _ = self.post("/login/", {"username": username, "password": PASSWORD})
        assert status == 302, f"{username} could not sign in"

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.cookies if c.name == name)

    def get(self, path: str, timeout: float = 60) -> HTTPResponse:
        return self.opener.open(self.base + path, timeout=timeout)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        """The status and Location of a form post, with the CSRF token the form would carry."""
        data = urlencode({**form, "csrfmiddlewaretoken": self.cookie("csrftoken")}).encode()
        try:
            with self.opener.open(self.base + path, data, timeout=60) as answer:
                return answer.status, answer.headers.get("Location", "")
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers.get("Location", "")

    def run(self, command: str, tty: bool = False) -> str:
        """Run a busybox container from the dashboard's form; answers its id."""
        form = {"image": "busybox:latest", "command": command, "restart": "no"}
        if tty:
            form["tty"] = "on"
        status, location = self.post("/ui/containers/run/", form)
        assert status == 302, f"the run form answered {status}"
        return location.rstrip("/").rsplit("/", 1)[1]

    def socket(self, path: str, **query: str) -> ClientConnection:
        """A websocket to the web process with this user's session."""
        url = self.base.replace("http", "ws", 1) + path
        if query:
            url += "?" + urlencode(query)
        cookie = f"sessionid={self.cookie('sessionid')}"
        return connect(url, additional_headers={"Cookie": cookie}, max_size=None)


@pytest.fixture
def alice_web(web_platform) -> WebSession:
    return WebSession(web_platform.web_url, "alice")


def wait_until(check, timeout: float, what: str, every: float = 0.1):
    """Poll `check` until it answers something truthy, which is returned; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(every)
