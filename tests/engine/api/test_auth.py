"""Who may use the Engine API over TCP: tokens yes, anonymous no, cross-site never."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="alice-password")


def test_anonymous_callers_are_asked_to_authenticate():
    response = Client().get("/v1.47/containers/json")
    assert response.status_code == 401
    assert "token" in response.json()["message"]


def test_a_browser_session_cannot_change_anything_without_the_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(
        "/v1.47/containers/create", data=b'{"Image": "busybox"}', content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_a_browser_session_may_read(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.get("/v1.47/containers/json")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Privileged": True}, "privileged containers"),
        ({"SecurityOpt": ["seccomp=unconfined"]}, "seccomp=unconfined"),
    ],
)
def test_only_administrators_loosen_a_containers_confinement(alice, host_config, message):
    browser = Client()
    browser.force_login(alice)
    response = browser.post(
        "/v1.47/containers/create",
        data={"Image": "busybox", "HostConfig": host_config},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert message in response.json()["message"]
