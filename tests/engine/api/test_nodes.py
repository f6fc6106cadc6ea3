"""The node routes: `docker node ls` for everyone, drain for admins only, and the join
endpoint refusing every token but a fresh one."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.services import do_create_token
from engine.models import JoinToken, Node
from engine.services.nodes import do_issue_join_token

pytestmark = pytest.mark.django_db


def _client(user: User, scopes=("read", "write")) -> Client:
    _, secret = do_create_token(user, "t", list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def node(db):
    return Node.objects.create(name="n1", joined=True, last_seen=timezone.now(), cpus=2)


def test_node_ls_lists_nodes_with_status_and_availability(charlie, node):
    listed = _client(charlie).get("/v1.47/nodes").json()
    [row] = [n for n in listed if n["Description"]["Hostname"] == "n1"]
    assert row["Status"]["State"] == "ready"
    assert row["Spec"]["Availability"] == "active"
    assert len(row["ID"]) == 25


def test_a_node_without_heartbeats_is_down(charlie, node):
    Node.objects.filter(id=node.id).update(last_seen=timezone.now() - timedelta(seconds=16))
    row = _client(charlie).get("/v1.47/nodes/n1").json()
    assert row["Status"]["State"] == "down"


def test_charlie_cannot_drain_a_node(charlie, node):
    response = _client(charlie).post(
        "/v1.47/nodes/n1/update?version=1", {"Availability": "drain"}, "application/json"
    )
    assert response.status_code == 403
    assert "message" in response.json()
    node.refresh_from_db()
    assert node.availability == "active"


def test_an_admin_drains_a_node(node):
    admin = User.objects.create_superuser("root-admin", password="pw-secret-1")
    response = _client(admin, ["admin"]).post(
        "/v1.47/nodes/n1/update?version=1",
        {"Availability": "drain", "Labels": {"disk": "ssd"}},
        "application/json",
    )
    assert response.status_code == 200, response.content
    node.refresh_from_db()
    assert (node.availability, node.labels) == ("drain", {"disk": "ssd"})


@pytest.mark.parametrize("kind", ["unknown", "used", "expired"])
def test_join_refuses_a_bad_token_with_json(kind):
    secret = do_issue_join_token()
    if kind == "unknown":
        secret = secret[:-4] + "AAAA"
    elif kind == "used":
        JoinToken.objects.update(used=timezone.now())
    else:
        JoinToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = Client().post(
        "/api/nodes/join", {"token": secret, "name": "evil"}, "application/json"
    )
    assert response.status_code == 403
    assert "invalid join token" in response.json()["message"]
    assert not Node.objects.filter(name="evil").exists()


def test_join_refuses_the_control_planes_own_name(settings):
    secret = do_issue_join_token()
    response = Client().post(
        "/api/nodes/join",
        {"token": secret, "name": settings.DOCKYARD_NODE.lower()},
        "application/json",
    )
    assert response.status_code in (400, 409)
