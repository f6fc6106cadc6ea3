import pytest

from accounts.errors import InvalidName, NameTaken
from accounts.models import Membership
from accounts.services import do_add_member, do_create_team, do_remove_member


@pytest.mark.django_db
def test_it_makes_the_creator_an_admin(alice):
    team = do_create_team("acme", alice)
    assert Membership.objects.get(team=team, user=alice).role == "admin"


@pytest.mark.django_db
def test_it_adds_members_and_changes_their_role(alice, bob):
    team = do_create_team("acme", alice)
    do_add_member(team, bob, "read")
    do_add_member(team, bob, "write")
    assert Membership.objects.get(team=team, user=bob).role == "write"
    do_remove_member(team, bob)
    assert not Membership.objects.filter(team=team, user=bob).exists()
    with pytest.raises(InvalidName):
        do_add_member(team, bob, "owner")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Acme", "acme team", "-acme", "acme/ops", "", "a" * 65])
def test_it_refuses_names_unfit_for_a_namespace(alice, name):
    with pytest.raises(InvalidName):
        do_create_team(name, alice)


@pytest.mark.django_db
def test_it_refuses_names_of_users_teams_and_the_platform(alice, charlie):
    do_create_team("acme", alice)
    for name in ("acme", "charlie", "library"):
        with pytest.raises(NameTaken):
            do_create_team(name, alice)
