import base64

import pytest

from accounts.auth import actor_from_request_headers, user_from_request_headers
from accounts.services import do_create_token


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.django_db
def test_it_reads_bearer_personal_access_tokens(alice):
    _, secret = do_create_token(alice, "cli", ["read"])
    assert user_from_request_headers({"Authorization": f"Bearer {secret}"}) == alice
    assert user_from_request_headers({"authorization": f"bearer {secret}"}) == alice
    actor = actor_from_request_headers({"Authorization": f"Bearer {secret}"})
    assert actor.scopes == {"read"}


@pytest.mark.django_db
def test_it_reads_basic_credentials(alice):
    assert user_from_request_headers({"Authorization": basic("alice", "pw-secret-1")}) == alice
    actor = actor_from_request_headers({"Authorization": basic("alice", "pw-secret-1")})
    assert actor.scopes == {"read", "write", "admin"}


@pytest.mark.django_db
def test_it_refuses_anything_else(alice, charlie):
    _, secret = do_create_token(alice, "cli", ["read"])
    for value in (
        "",
        "Bearer ",
        "Bearer nonsense",
        basic("alice", "wrong"),
        basic("charlie", secret),
        "Basic ###",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        f"Token {secret}",
    ):
        assert user_from_request_headers({"Authorization": value}) is None, value
    assert user_from_request_headers({}) is None


def test_a_changed_password_stops_working_at_once_even_right_after_a_login(db):
    from django.contrib.auth import get_user_model

    from accounts.services import check_basic

    user = get_user_model().objects.create_user("dora", password="first-password")
    assert check_basic("dora", "first-password") is not None
    assert check_basic("dora", "first-password") is not None
    user.set_password("second-password")
    user.save()
    assert check_basic("dora", "first-password") is None
    assert check_basic("dora", "second-password") is not None
    assert check_basic("dora", "wrong-password") is None
