import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from platformkit.prepared import PreparedLookup
from registry_app.models import Manifest, Namespace, Repository

ACTIVE_NAMED = PreparedLookup(
    lambda username: User.objects.filter(username=username, is_active=True),
    username="\0username",
)


@pytest.fixture
def users(db):
    return [
        User.objects.create_user("alice"),
        User.objects.create_user("bob"),
        User.objects.create_user("gone", is_active=False),
    ]


def test_each_call_finds_the_row_for_its_own_values(users):
    alice, bob, _ = users
    assert ACTIVE_NAMED.first(username="alice") == alice
    assert ACTIVE_NAMED.first(username="bob") == bob
    assert ACTIVE_NAMED.first(username="nobody") is None


def test_the_fixed_conditions_of_the_query_still_hold(users):
    assert ACTIVE_NAMED.first(username="gone") is None


def test_rows_come_back_as_the_orm_would_give_them(db):
    namespace = Namespace.objects.create(name="alice")
    repository = Repository.objects.create(namespace=namespace, name="alice/app")
    stored = Manifest.objects.create(
        repository=repository,
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=3,
        content=b"{}\n",
        annotations={"org.opencontainers.image.title": "app"},
    )
    lookup = PreparedLookup(
        lambda name, digest: Manifest.objects.filter(repository__name=name, digest=digest),
        name="\0name",
        digest="\0digest",
    )
    found = lookup.first(name="alice/app", digest=stored.digest)
    expected = Manifest.objects.get(pk=stored.pk)
    assert found.pk == expected.pk
    assert bytes(found.content) == bytes(expected.content) == b"{}\n"
    assert found.annotations == expected.annotations
    assert found.pushed_at == expected.pushed_at
    assert lookup.first(name="alice/other", digest=stored.digest) is None


def test_a_sample_the_query_changes_on_its_way_to_the_sql_is_refused(db):
    # `startswith` turns the value into a LIKE pattern, so the argument's place is unknown.
    lookup = PreparedLookup(
        lambda prefix: User.objects.filter(username__startswith=prefix), prefix="\0prefix"
    )
    with pytest.raises(ValueError, match="every sample"):
        lookup.first(prefix="al")


def test_all_gives_every_row_and_an_argument_may_go_to_several_places(users):
    alice, bob, _ = users
    either = PreparedLookup(
        lambda name: User.objects.filter(username=name) | User.objects.filter(first_name=name),
        name="\0name",
    )
    bob.first_name = "alice"
    bob.save()
    assert sorted(u.username for u in either.all(name="alice")) == ["alice", "bob"]
    assert either.first(name="bob") == bob
    assert either.all(name="nobody") == []


def test_every_field_comes_back_as_the_orm_gives_it_and_saves_as_an_update(users):
    alice = users[0]
    alice.last_login = timezone.now()
    alice.is_staff = True
    alice.save()
    found = ACTIVE_NAMED.first(username="alice")
    expected = User.objects.get(pk=alice.pk)
    for field in User._meta.concrete_fields:
        mine, theirs = getattr(found, field.attname), getattr(expected, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    found.first_name = "Alice"
    found.save()
    assert User.objects.filter(username="alice").count() == 1
    assert User.objects.get(pk=alice.pk).first_name == "Alice"


def test_a_query_that_joins_rows_in_or_leaves_fields_out_is_refused(db):
    joined = PreparedLookup(
        lambda name: Repository.objects.select_related("namespace").filter(name=name),
        name="\0name",
    )
    with pytest.raises(ValueError, match="nothing joined"):
        joined.first(name="alice/app")
    partial = PreparedLookup(
        lambda name: User.objects.only("username").filter(username=name), name="\0name"
    )
    with pytest.raises(ValueError, match="every field"):
        partial.first(name="alice")
