import pytest

from .helpers import basic, bearer, error_code, token


@pytest.mark.django_db
def test_it_challenges_anonymous_clients_to_fetch_a_token(client):
    response = client.get("/v2/")
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == (
        'Bearer realm="http://testserver/auth/token",service="dockyard"'
    )
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.django_db
def test_it_accepts_basic_credentials_and_tokens(client, alice, charlie):
    assert client.get("/v2/", **basic("alice")).status_code == 200
    assert client.get("/v2/", **basic("charlie")).status_code == 200
    assert client.get("/v2/", **bearer(token(client, basic("alice")))).status_code == 200
    anonymous = token(client, {})
    assert client.get("/v2/", **bearer(anonymous)).status_code == 200


@pytest.mark.django_db
def test_it_refuses_a_wrong_password(client, alice):
    response = client.get("/v2/", **basic("alice", "wrong"))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert response["WWW-Authenticate"].startswith("Bearer realm=")


@pytest.mark.django_db
def test_it_refuses_garbage_credentials(client, alice):
    for header in ("Basic !!!", "Bearer not-a-token", "Digest x", "Basic " + "YWxpY2U="):
        response = client.get("/v2/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert error_code(response) == "UNAUTHORIZED"


@pytest.mark.django_db
def test_it_answers_unknown_endpoints_with_distribution_errors(client, alice):
    response = client.get("/v2/alice/app/nothing-here", **basic("alice"))
    assert response.status_code == 404
    assert error_code(response) == "UNSUPPORTED"
    response = client.post("/v2/alice/app/tags/list", **basic("alice"))
    assert response.status_code == 405
