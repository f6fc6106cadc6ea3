"""mallory, an ordinary user, tries to join people to her team to control their containers.

She signs in to the dashboard, makes a team, adds alice and the admin to it, then uses her
personal access token against the Engine API over TCP. Nobody joins without accepting.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.actors import actor_for
from accounts.errors import NotAllowed
from accounts.models import Invitation, Membership, Team
from accounts.services import do_create_team, do_create_token, do_invite
from tests.conftest import PASSWORD
from tests.webui.test_pages import make_container

pytestmark = pytest.mark.django_db


@pytest.fixture
def mallory(db):
    return User.objects.create_user("mallory", password=PASSWORD)


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", password=PASSWORD)


def dashboard(user) -> Client:
    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    return browser


def engine(user) -> Client:
    """A docker CLI's view of the Engine API: a token in HttpHeaders, over TCP."""
    _, secret = do_create_token(user, "cli", ["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_adding_alice_and_the_admin_to_her_team_gives_mallory_none_of_their_containers(
    mallory, alice, root
):
    alices = make_container(alice, "alices-db")
    roots = make_container(root, "roots-proxy")
    browser = dashboard(mallory)
    assert browser.post("/ui/teams/", {"name": "evil"}).status_code == 302
    for victim in ("alice", "root"):
        response = browser.post("/ui/teams/evil/", {"username": victim, "role": "read"})
        assert response.status_code == 302
    cli = engine(mallory)
    listed = cli.get("/v1.47/containers/json", {"all": "1"})
    assert listed.status_code == 200
    assert listed.json() == []
    for container in (alices, roots):
        for method, path in (
            ("get", f"/v1.47/containers/{container.id}/json"),
            ("post", f"/v1.47/containers/{container.id}/stop"),
            ("delete", f"/v1.47/containers/{container.id}"),
        ):
            response = getattr(cli, method)(path)
            assert response.status_code == 404, (method, path, response.content)
            assert response.json()["message"].startswith("No such container")
    page = browser.get("/ui/teams/evil/").content.decode()
    assert "Invited" in page
    team = Team.objects.get(name="evil")
    assert list(team.memberships.values_list("user__username", flat=True)) == ["mallory"]


def test_alice_sees_the_invitation_and_declining_leaves_her_out(mallory, alice):
    make_container(alice, "alices-db")
    dashboard(mallory).post("/ui/teams/", {"name": "evil"})
    dashboard(mallory).post("/ui/teams/evil/", {"username": "alice", "role": "admin"})
    browser = dashboard(alice)
    teams_page = browser.get("/ui/teams/").content.decode()
    assert "Invitations" in teams_page and "evil" in teams_page
    invitation = Invitation.objects.get(user=alice)
    assert browser.post(f"/ui/invitations/{invitation.pk}/decline/").status_code == 302
    assert not Invitation.objects.exists()
    assert browser.get("/ui/teams/evil/").status_code == 404
    assert engine(mallory).get("/v1.47/containers/json", {"all": "1"}).json() == []


def test_once_alice_accepts_her_team_shares_containers(mallory, alice):
    make_container(alice, "alices-db")
    dashboard(mallory).post("/ui/teams/", {"name": "crew"})
    dashboard(mallory).post("/ui/teams/crew/", {"username": "alice", "role": "write"})
    invitation = Invitation.objects.get(user=alice)
    response = dashboard(alice).post(f"/ui/invitations/{invitation.pk}/accept/")
    assert response.status_code == 302
    assert Membership.objects.get(team__name="crew", user=alice).role == "write"
    names = [c["Names"] for c in engine(mallory).get("/v1.47/containers/json?all=1").json()]
    assert names == [["/alices-db"]]


def test_nobody_else_can_answer_an_invitation(mallory, alice, charlie):
    dashboard(mallory).post("/ui/teams/", {"name": "evil"})
    dashboard(mallory).post("/ui/teams/evil/", {"username": "alice", "role": "read"})
    invitation = Invitation.objects.get(user=alice)
    for answer in ("accept", "decline"):
        for who in (mallory, charlie):
            response = dashboard(who).post(f"/ui/invitations/{invitation.pk}/{answer}/")
            assert response.status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert not Membership.objects.filter(user=alice).exists()


def test_a_site_administrator_adds_members_directly(root, alice):
    team = do_create_team("ops", root)
    response = dashboard(root).post("/ui/teams/ops/", {"username": "alice", "role": "write"})
    assert response.status_code == 302
    assert team.memberships.filter(user=alice, role="write").exists()
    assert not Invitation.objects.exists()


def test_only_a_team_admin_invites(alice, bob, charlie):
    team = do_create_team("acme", alice)
    do_invite(actor_for(alice), team, bob, "read")
    bobs = Invitation.objects.get(user=bob)
    with pytest.raises(NotAllowed):
        do_invite(actor_for(charlie), team, bob, "admin")
    assert Invitation.objects.get(user=bob).role == bobs.role == "read"


def test_a_member_may_leave_and_withdrawn_invitations_grant_nothing(mallory, alice, bob):
    team = do_create_team("crew", mallory)
    do_invite(actor_for(mallory), team, alice, "read")
    do_invite(actor_for(mallory), team, bob, "read")
    alices = Invitation.objects.get(user=alice)
    dashboard(alice).post(f"/ui/invitations/{alices.pk}/accept/")
    membership = Membership.objects.get(team=team, user=alice)
    response = dashboard(alice).post(f"/ui/teams/crew/members/{membership.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(user=alice).exists()
    bobs = Invitation.objects.get(user=bob)
    dashboard(mallory).post(f"/ui/teams/crew/invitations/{bobs.pk}/cancel/")
    assert dashboard(bob).post(f"/ui/invitations/{bobs.pk}/accept/").status_code == 404
    assert not Membership.objects.filter(user=bob).exists()


def test_memberships_made_before_invitations_existed_wait_for_consent(mallory, alice, root):
    from importlib import import_module

    from django.apps import apps

    team = Team.objects.create(name="evil")
    Membership.objects.create(team=team, user=mallory, role="admin")
    Membership.objects.create(team=team, user=alice, role="read")
    Membership.objects.create(team=team, user=root, role="read")
    migration = import_module("accounts.migrations.0002_invitations_and_login_failures")
    migration.memberships_to_invitations(apps, None)
    assert list(team.memberships.values_list("user__username", flat=True)) == ["mallory"]
    waiting = team.invitations.order_by("user__username").values_list("user__username", "role")
    assert list(waiting) == [("alice", "read"), ("root", "read")]
