"""Swarm routes answer as a dockerd outside a swarm; _ping and info say the swarm is inactive."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import do_create_token

pytestmark = pytest.mark.django_db

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
ROUTES = [
    ("GET", "/swarm"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/init"),
    ("POST", "/swarm/join"),
    ("POST", "/swarm/update"),
    ("POST", "/swarm/unlock"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/web"),
    ("POST", "/services/web/update"),
    ("DELETE", "/services/web"),
    ("GET", "/services/web/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/t1"),
    ("GET", "/tasks/t1/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/s1"),
    ("POST", "/secrets/s1/update"),
    ("DELETE", "/secrets/s1"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/c1"),
    ("POST", "/configs/c1/update"),
    ("DELETE", "/configs/c1"),
]


@pytest.fixture
def charlie_client(db):
    charlie = User.objects.create_user("charlie")
    _, secret = do_create_token(charlie, "rw", ["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("prefix", ["/v1.47", ""])
def test_a_swarm_route_says_this_node_is_not_a_manager(charlie_client, method, path, prefix):
    response = charlie_client.generic(method, prefix + path, b"{}", "application/json")
    assert response.status_code == 503, response.content
    assert response.json() == {"message": NOT_A_MANAGER}


def test_leaving_says_this_node_is_in_no_swarm(charlie_client):
    response = charlie_client.post("/v1.47/swarm/leave?force=1")
    assert response.status_code == 503
    assert response.json() == {"message": "This node is not part of a swarm"}


def test_anonymous_callers_are_still_asked_to_authenticate():
    assert Client().get("/v1.47/swarm").status_code == 401


def test_ping_says_the_swarm_is_inactive(charlie_client):
    response = charlie_client.get("/_ping")
    assert response.status_code == 200
    assert response["Swarm"] == "inactive"


def test_info_says_the_swarm_is_inactive(charlie_client):
    swarm = charlie_client.get("/v1.47/info").json()["Swarm"]
    assert swarm["LocalNodeState"] == "inactive"
    assert swarm["ControlAvailable"] is False
    assert swarm["NodeID"] == ""
