"""Finding the container a request names, as Docker does: full ID, then name, then ID prefix."""

import pytest
from django.utils import timezone

from accounts.actors import NODE_ADMIN, actor_for
from accounts.services import do_add_member, do_create_team
from engine.errors import NotFound
from engine.models import Container, Node
from engine.nodes import NODE_DOWN_AFTER
from engine.services.containers import resolve_container
from engine.services.nodes import shown_state


@pytest.fixture
def node(db):
    return Node.objects.create(name="n1")


def _container(node, owner, cid: str, name: str) -> Container:
    return Container.objects.create(
        id=cid,
        name=name,
        node=node,
        owner=owner,
        image_id="sha256:x",
        image_ref="busybox",
        config={},
        host_config={},
        created=timezone.now(),
    )


def test_a_full_id_wins_over_a_container_named_like_it(node, alice):
    target = _container(node, alice, "a" * 64, "web")
    _container(node, alice, "b" * 64, "a" * 64)
    assert resolve_container(actor_for(alice), "a" * 64).id == target.id


def test_a_name_wins_over_an_id_prefix_and_a_leading_slash_is_dropped(node, alice):
    named = _container(node, alice, "c" * 64, "cc")
    _container(node, alice, "cc" + "d" * 62, "other")
    assert resolve_container(actor_for(alice), "cc").id == named.id
    assert resolve_container(actor_for(alice), "/cc").id == named.id


def test_a_unique_prefix_finds_its_container_and_an_ambiguous_one_finds_none(node, alice):
    _container(node, alice, "e1" + "0" * 62, "one")
    _container(node, alice, "e2" + "0" * 62, "two")
    assert resolve_container(actor_for(alice), "e1").name == "one"
    with pytest.raises(NotFound):
        resolve_container(actor_for(alice), "e")


def test_another_users_container_is_not_found_by_id_or_name(node, alice, bob):
    _container(node, bob, "f" * 64, "secret")
    for ref in ("f" * 64, "secret", "ff"):
        with pytest.raises(NotFound):
            resolve_container(actor_for(alice), ref)


def test_a_teammates_container_is_found_and_an_outsiders_is_not(node, alice, bob):
    from django.contrib.auth.models import User

    carol = User.objects.create_user("carol")
    do_add_member(do_create_team("acme", alice), bob, "write")
    _container(node, bob, "1" * 64, "shared")
    _container(node, carol, "2" * 64, "private")
    assert resolve_container(actor_for(alice), "shared").owner == bob
    with pytest.raises(NotFound):
        resolve_container(actor_for(bob), "private")
    assert resolve_container(NODE_ADMIN, "private").owner == carol


def test_the_container_comes_with_its_node(node, alice, django_assert_num_queries):
    _container(node, alice, "3" * 64, "web")
    with django_assert_num_queries(2):
        found = resolve_container(actor_for(alice), "web")
        assert found.node.name == "n1"
    assert found.owner == alice


def test_a_container_on_a_joined_node_gone_silent_shows_as_unknown(node, alice):
    silent = Node.objects.create(
        name="n2", joined=True, last_seen=timezone.now() - 2 * NODE_DOWN_AFTER
    )
    _container(silent, alice, "4" * 64, "far")
    _container(node, alice, "5" * 64, "near")
    assert shown_state(resolve_container(actor_for(alice), "far")) == "unknown"
    assert shown_state(resolve_container(actor_for(alice), "near")) == "created"
