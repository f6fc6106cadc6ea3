"""The volumes page as alice (owner), bob (teammate) and charlie (outsider) see it."""

import html

import pytest
from django.utils import timezone

from engine.models import Volume, VolumeMount
from engine.nodes import local_node
from tests.webui.test_pages import login, make_container

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DOCKYARD_ROOT = tmp_path / "root"
    settings.DOCKYARD_NODE = "n1"
    return local_node()


def page(client) -> str:
    return html.unescape(client.get("/ui/volumes/").content.decode())


def test_it_lists_a_volume_with_its_size_and_users_to_the_team_only(
    client, node, settings, alice, acme, charlie
):
    volume = Volume.objects.create(name="dbdata", node=node, owner=alice, created=timezone.now())
    data = settings.DOCKYARD_ROOT / "volumes" / "dbdata" / "_data"
    data.mkdir(parents=True)
    (data / "table").write_bytes(b"x" * 3000)
    c = make_container(alice, "db1")
    VolumeMount.objects.create(container=c, volume=volume, destination="/var/lib/db")

    shown = page(login(client, alice))
    assert "dbdata" in shown and "2.9\xa0KB" in shown and "db1" in shown
    bob = acme.memberships.get(role="write").user
    assert "dbdata" in page(login(client, bob))
    assert "dbdata" not in page(login(client, charlie))


def test_a_volume_in_use_is_not_removed_and_an_unused_one_is(client, node, alice):
    used = Volume.objects.create(name="used", node=node, owner=alice, created=timezone.now())
    Volume.objects.create(name="spare", node=node, owner=alice, created=timezone.now())
    VolumeMount.objects.create(container=make_container(alice), volume=used, destination="/d")
    login(client, alice)
    client.post("/ui/volumes/n1/used/remove/")
    assert Volume.objects.filter(name="used").exists()
    assert "in use" in page(client)
    client.post("/ui/volumes/n1/spare/remove/")
    assert not Volume.objects.filter(name="spare").exists()


def test_charlie_cannot_remove_or_prune_alices_volume(client, node, alice, charlie):
    Volume.objects.create(name="mine", node=node, owner=alice, created=timezone.now())
    login(client, charlie)
    client.post("/ui/volumes/n1/mine/remove/")
    client.post("/ui/volumes/prune/")
    assert Volume.objects.filter(name="mine").exists()
