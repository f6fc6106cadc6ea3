"""mallory guesses passwords at every door that takes one, and is made to wait.

The doors: the dashboard's sign-in form, HTTP Basic on the Engine API and on /v2/, and the
registry's token endpoint (GET with Basic, POST with a password grant).
"""

import base64
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from accounts.models import LoginFailure
from accounts.services import do_create_token
from tests.conftest import PASSWORD
from webui.models import AuditEntry

pytestmark = pytest.mark.django_db
MALLORY = "203.0.113.66"
LIMIT, PER_ADDRESS, WINDOW = 3, 5, 300


@pytest.fixture(autouse=True)
def limits(settings):
    settings.DOCKYARD_LOGIN_MAX_FAILURES = LIMIT
    settings.DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS = PER_ADDRESS
    settings.DOCKYARD_LOGIN_WINDOW = WINDOW


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def dashboard(username, password, address=MALLORY):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def engine_basic(username, password, address=MALLORY):
    return Client(REMOTE_ADDR=address).get(
        "/v1.47/containers/json", HTTP_AUTHORIZATION=basic(username, password)
    )


def registry_basic(username, password, address=MALLORY):
    return Client(REMOTE_ADDR=address).get("/v2/", HTTP_AUTHORIZATION=basic(username, password))


def token_get(username, password, address=MALLORY):
    return Client(REMOTE_ADDR=address).get(
        "/auth/token?service=dockyard", HTTP_AUTHORIZATION=basic(username, password)
    )


def token_post(username, password, address=MALLORY):
    return Client(REMOTE_ADDR=address).post(
        "/auth/token",
        {"grant_type": "password", "username": username, "password": password},
    )


DOORS = {
    "dashboard": dashboard,
    "engine": engine_basic,
    "registry": registry_basic,
    "token-get": token_get,
    "token-post": token_post,
}


def refused_for_now(response) -> int:
    """The Retry-After of a 429, after checking the body suits the caller."""
    assert response.status_code == 429, response.content
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW + 1
    if response["Content-Type"].startswith("application/json"):
        body = response.json()
        message = body["message"] if "message" in body else body["errors"][0]["message"]
        if "errors" in body:
            assert body["errors"][0]["code"] == "TOOMANYREQUESTS"
    else:
        message = response.content.decode()
    assert "too many failed sign-ins" in message
    return retry_after


@pytest.mark.parametrize("door", DOORS)
def test_after_a_few_wrong_guesses_even_the_right_password_waits(alice, door):
    attempt = DOORS[door]
    for guess in range(LIMIT):
        assert attempt("alice", f"guess-{guess}").status_code in (200, 401), guess
    refused_for_now(attempt("alice", "guess-next"))
    refused_for_now(attempt("alice", PASSWORD))
    # Refused before hashing: the audit log saw exactly the guesses that were checked.
    assert AuditEntry.objects.filter(action="login.failed").count() == LIMIT


def test_guesses_at_one_door_close_the_others(alice):
    for guess in range(LIMIT):
        registry_basic("alice", f"guess-{guess}")
    for door in DOORS.values():
        refused_for_now(door("alice", PASSWORD))


def test_alices_tokens_keep_working_while_her_password_is_locked(alice):
    _, secret = do_create_token(alice, "laptop", ["read"])
    for guess in range(LIMIT + 2):
        engine_basic("alice", f"guess-{guess}")
    response = Client().get("/v1.47/containers/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert Client().get("/v2/", HTTP_AUTHORIZATION=basic("alice", secret)).status_code == 200


def test_trying_many_user_names_from_one_address_is_stopped_there(alice, bob, charlie):
    for n in range(PER_ADDRESS):
        assert token_get(f"user{n}", "guess").status_code == 401
    refused_for_now(token_get("bob", PASSWORD))
    refused_for_now(dashboard("charlie", PASSWORD))
    assert token_get("bob", PASSWORD, address="198.51.100.7").status_code == 200
    assert dashboard("charlie", PASSWORD, address="198.51.100.7").status_code == 302


def test_the_wait_ends_once_the_guesses_leave_the_window(alice):
    for guess in range(LIMIT):
        dashboard("alice", f"guess-{guess}")
    retry_after = refused_for_now(dashboard("alice", PASSWORD))
    assert retry_after > WINDOW - 60
    # Time passes: the guesses are now as old as the window.
    LoginFailure.objects.update(at=F("at") - timedelta(seconds=WINDOW))
    assert dashboard("alice", PASSWORD).status_code == 302


def test_alices_own_typos_are_forgiven_when_she_gets_it_right(alice):
    for guess in range(LIMIT - 1):
        dashboard("alice", f"typo-{guess}", address="198.51.100.7")
    assert dashboard("alice", PASSWORD, address="198.51.100.7").status_code == 302
    for guess in range(LIMIT - 1):
        dashboard("alice", f"typo-{guess}", address="198.51.100.7")
    assert dashboard("alice", PASSWORD, address="198.51.100.7").status_code == 302


def test_the_admin_sites_sign_in_is_the_dashboards():
    response = Client().post("/admin/login/?next=/admin/", {"username": "x", "password": "y"})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"
