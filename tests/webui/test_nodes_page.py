"""The nodes page: everyone sees the nodes; only administrators add or drain them."""

import html
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from engine.models import JoinToken, Node
from tests.conftest import PASSWORD
from tests.webui.test_pages import login, make_container

pytestmark = pytest.mark.django_db


@pytest.fixture
def nodes(db):
    up = Node.objects.create(name="n2", joined=True, last_seen=timezone.now(), cpus=2)
    down = Node.objects.create(
        name="n3", joined=True, last_seen=timezone.now() - timedelta(minutes=1)
    )
    return up, down


def page(client) -> str:
    return html.unescape(client.get("/ui/nodes/").content.decode())


def test_it_shows_each_nodes_state_to_users(client, nodes, charlie):
    shown = page(login(client, charlie))
    assert "n2" in shown and "ready" in shown
    assert "n3" in shown and "down" in shown
    assert "Add a node" not in shown


def test_charlie_cannot_make_a_join_token_or_drain(client, nodes, charlie):
    login(client, charlie)
    assert client.post("/ui/nodes/join-token/").status_code == 403
    assert not JoinToken.objects.exists()
    client.post("/ui/nodes/n2/availability/", {"availability": "drain"})
    assert Node.objects.get(name="n2").availability == "active"


def test_an_admin_gets_a_join_command_once_and_drains(client, nodes):
    admin = User.objects.create_superuser("boss", password=PASSWORD)
    login(client, admin)
    client.post("/ui/nodes/join-token/")
    shown = page(client)
    assert "make node JOIN=http://testserver TOKEN=dyj_" in shown
    assert "TOKEN=dyj_" not in page(client)
    client.post("/ui/nodes/n2/availability/", {"availability": "drain"})
    assert Node.objects.get(name="n2").availability == "drain"


def test_the_containers_page_names_each_containers_node(client, alice):
    make_container(alice, "web1")
    shown = html.unescape(login(client, alice).get("/").content.decode())
    assert "<td>n1</td>" in shown
