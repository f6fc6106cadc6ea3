"""mallory, with a token over TCP, reaches for alice's container by its ID, name or ID prefix.

Every container route looks its container up by what the client named, through the one
visibility rule: alice's teammate bob finds it, mallory gets the 404 a missing container gets.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.services import do_add_member, do_create_team, do_create_token
from engine.models import Container, Node

pytestmark = pytest.mark.django_db

CID = "ab" * 32


@pytest.fixture
def secret_container():
    alice = User.objects.create_user("alice")
    return Container.objects.create(
        id=CID,
        name="payroll",
        node=Node.objects.create(name="n1"),
        owner=alice,
        image_id="sha256:x",
        image_ref="busybox",
        config={},
        host_config={},
        created=timezone.now(),
    )


def client_of(user: User) -> Client:
    _, secret = do_create_token(user, "cli", ["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.parametrize("ref", [CID, "payroll", CID[:12], "a"])
@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("get", "json"),
        ("get", "logs?stdout=1"),
        ("get", "top"),
        ("post", "stop"),
        ("post", "kill"),
        ("post", "rename?name=mine"),
        ("delete", ""),
    ],
)
def test_mallory_finds_nothing_of_alices_container(secret_container, ref, method, route):
    mallory = client_of(User.objects.create_user("mallory"))
    path = f"/v1.47/containers/{ref}/{route}" if route else f"/v1.47/containers/{ref}"
    response = getattr(mallory, method)(path)
    assert response.status_code == 404
    assert response.json() == {"message": f"No such container: {ref}"}
    assert Container.objects.get(id=CID).name == "payroll"


def test_alices_teammate_finds_it_by_name(secret_container):
    bob = User.objects.create_user("bob")
    do_add_member(do_create_team("acme", secret_container.owner), bob, "write")
    response = client_of(bob).get("/v1.47/containers/payroll/json")
    assert response.status_code == 200
    assert response.json()["Id"] == CID
