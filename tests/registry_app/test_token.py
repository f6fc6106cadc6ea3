import jwt
import pytest

from accounts.services import do_create_token, do_revoke_token
from registry_app import tokens

from .helpers import basic, bearer, error_code, push_image, token


def granted(client, who: dict, scope: str) -> list[str]:
    response = client.get(f"/auth/token?service=dockyard&scope={scope}", **who)
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 300
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    (entry,) = claims["access"]
    return entry["actions"]


@pytest.mark.django_db
def test_it_grants_a_user_their_own_namespace(client, alice):
    assert granted(client, basic("alice"), "repository:alice/app:pull,push,delete") == [
        "delete",
        "pull",
        "push",
    ]


@pytest.mark.django_db
def test_it_grants_team_members_by_role(client, acme, bob, charlie):
    assert granted(client, basic("bob"), "repository:acme/app:pull,push,delete") == [
        "pull",
        "push",
    ]
    assert granted(client, basic("alice"), "repository:acme/app:pull,push,delete") == [
        "delete",
        "pull",
        "push",
    ]
    assert granted(client, basic("charlie"), "repository:acme/app:pull,push") == []


@pytest.mark.django_db
def test_it_grants_outsiders_nothing_in_private_namespaces(client, alice, charlie):
    push_image(client, "alice/app", "1", basic("alice"))
    assert granted(client, basic("charlie"), "repository:alice/app:pull,push") == []
    assert granted(client, {}, "repository:alice/app:pull") == []


@pytest.mark.django_db
def test_it_lets_anyone_pull_public_repositories(client, alice, charlie):
    from registry_app.models import Repository

    push_image(client, "alice/app", "1", basic("alice"))
    Repository.objects.filter(name="alice/app").update(visibility="public")
    assert granted(client, basic("charlie"), "repository:alice/app:pull,push") == ["pull"]
    assert granted(client, {}, "repository:alice/app:pull") == ["pull"]


@pytest.mark.django_db
def test_it_keeps_library_writable_by_administrators_only(client, alice, admin):
    assert granted(client, {}, "repository:library/busybox:pull,push") == ["pull"]
    assert granted(client, basic("alice"), "repository:library/busybox:pull,push") == ["pull"]
    assert granted(client, basic("root"), "repository:library/busybox:pull,push") == [
        "pull",
        "push",
    ]


@pytest.mark.django_db
def test_it_caps_grants_by_the_access_token_scopes(client, alice):
    _, read_only = do_create_token(alice, "ci", ["read"])
    who = basic("alice", read_only)
    assert granted(client, who, "repository:alice/app:pull,push") == ["pull"]
    _, writer = do_create_token(alice, "ci", ["write"])
    assert granted(client, basic("alice", writer), "repository:alice/app:pull,push") == [
        "pull",
        "push",
    ]


@pytest.mark.django_db
def test_it_refuses_a_token_of_another_user(client, alice, charlie):
    _, secret = do_create_token(alice, "ci", ["admin"])
    response = client.get("/auth/token?scope=repository:alice/app:pull", **basic("charlie", secret))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"


@pytest.mark.django_db
def test_it_refuses_wrong_passwords_and_unknown_services(client, alice):
    assert client.get("/auth/token", **basic("alice", "nope")).status_code == 401
    response = client.get("/auth/token?service=elsewhere", **basic("alice"))
    assert response.status_code == 400


@pytest.mark.django_db
def test_it_grants_the_catalog_to_signed_in_users_only(client, alice):
    assert granted(client, basic("alice"), "registry:catalog:*") == ["*"]
    assert granted(client, {}, "registry:catalog:*") == []


@pytest.mark.django_db
def test_it_supports_the_oauth2_password_grant(client, alice):
    response = client.post(
        "/auth/token",
        {
            "grant_type": "password",
            "username": "alice",
            "password": "pw-secret-1",
            "service": "dockyard",
            "scope": "repository:alice/app:pull",
        },
    )
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["pull"]
    response = client.post(
        "/auth/token", {"grant_type": "password", "username": "alice", "password": "x"}
    )
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_refuses_expired_tokens(client, alice, settings):
    push_image(client, "alice/app", "1", basic("alice"))
    settings.DOCKYARD_REGISTRY_TOKEN_TTL = -5
    expired = token(client, basic("alice"), "repository:alice/app:pull")
    response = client.get("/v2/alice/app/tags/list", **bearer(expired))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_it_refuses_tampered_tokens(client, alice, charlie):
    push_image(client, "alice/app", "1", basic("alice"))
    stolen = token(client, basic("charlie"), "repository:alice/app:pull")
    claims = jwt.decode(stolen, options={"verify_signature": False})
    claims["access"][0]["actions"] = ["pull", "push"]
    forged = jwt.encode(claims, "a-guessed-key-of-thirty-two-bytes", algorithm="HS256")
    response = client.get("/v2/alice/app/tags/list", **bearer(forged))
    assert response.status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert client.get("/v2/alice/app/tags/list", **bearer(unsigned)).status_code == 401


@pytest.mark.django_db
def test_it_enforces_the_scope_of_a_token_on_every_request(client, alice):
    push_image(client, "alice/app", "1", basic("alice"))
    push_image(client, "alice/other", "1", basic("alice"))
    for_app = token(client, basic("alice"), "repository:alice/app:pull")
    assert client.get("/v2/alice/app/tags/list", **bearer(for_app)).status_code == 200
    response = client.get("/v2/alice/other/tags/list", **bearer(for_app))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].endswith(
        'scope="repository:alice/other:pull",error="insufficient_scope"'
    )
    response = client.post("/v2/alice/app/blobs/uploads/", **bearer(for_app))
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_stops_honouring_tokens_minted_from_a_revoked_access_token(client, alice):
    push_image(client, "alice/app", "1", basic("alice"))
    pat, secret = do_create_token(alice, "ci", ["read"])
    minted = token(client, basic("alice", secret), "repository:alice/app:pull")
    assert client.get("/v2/alice/app/tags/list", **bearer(minted)).status_code == 200
    do_revoke_token(pat)
    assert client.get("/v2/alice/app/tags/list", **bearer(minted)).status_code == 401
    assert client.get("/auth/token", **basic("alice", secret)).status_code == 401


@pytest.mark.django_db
def test_it_stops_honouring_tokens_of_deactivated_users(client, alice):
    push_image(client, "alice/app", "1", basic("alice"))
    minted = token(client, basic("alice"), "repository:alice/app:pull")
    alice.is_active = False
    alice.save()
    assert client.get("/v2/alice/app/tags/list", **bearer(minted)).status_code == 401


def test_it_parses_scopes():
    assert tokens.parse_scope("repository:alice/app:pull,push") == tokens.ResourceScope(
        "repository", "alice/app", frozenset({"pull", "push"})
    )
    assert tokens.parse_scope("repository(plugin):a/b:pull").type == "repository"
    assert tokens.parse_scope("nonsense") is None
    assert tokens.verify("x.y.z") is None
