"""The audit log names who did it, whichever door they came in by.

alice removes a container with the docker CLI's token, bob deletes a tag through the
registry API; the admin reading the audit log sees their names and how they came in.
"""

import pytest
from django.test import Client

from accounts.services import do_create_token
from tests.registry_app.helpers import basic, push_image
from webui.models import AuditEntry

from .test_pages import make_container

pytestmark = pytest.mark.django_db


@pytest.fixture
def node_obeys(monkeypatch):
    """The container's node does what it is told (no worker runs in these tests)."""
    from engine.services import containers

    monkeypatch.setattr(containers, "run_on_node", lambda *args, **kwargs: None)


def entry(action: str) -> AuditEntry:
    return AuditEntry.objects.get(action=action)


def test_a_removal_through_the_engine_api_names_alice_and_her_token(alice, node_obeys):
    container = make_container(alice, "alices-web")
    _, secret = do_create_token(alice, "laptop", ["read", "write"])
    cli = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert cli.delete(f"/v1.47/containers/{container.id}").status_code == 204
    removed = entry("container.remove")
    assert (removed.username, removed.target) == ("alice", "alices-web")
    assert removed.detail["via"] == "token laptop"


def test_a_tag_deleted_through_the_registry_names_bob(alice, bob, acme):
    client = Client()
    push_image(client, "acme/app", "v1", basic("bob"))
    acme.memberships.filter(user=bob).update(role="admin")
    response = client.delete("/v2/acme/app/manifests/v1", **basic("bob"))
    assert response.status_code == 202
    deleted = entry("tag.delete")
    assert (deleted.username, deleted.target) == ("bob", "acme/app:v1")
    assert deleted.detail["via"] == "password"
    pushed = entry("push")
    assert pushed.username == "bob"


def test_a_dashboard_removal_says_so(client, alice, node_obeys):
    container = make_container(alice, "alices-web")
    client.force_login(alice)
    client.post(f"/ui/containers/{container.id}/do/remove/")
    removed = entry("container.remove")
    assert (removed.username, removed.detail["via"]) == ("alice", "dashboard")
