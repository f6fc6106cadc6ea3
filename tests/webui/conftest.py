"""alice, bob (her teammate) and charlie (an outsider), in the ORM or on a whole platform."""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

import pytest

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
