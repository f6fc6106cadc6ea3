import pytest

from registry_app.models import Repository

from .helpers import basic, bearer, error_code, push_image, token


@pytest.mark.django_db
def test_it_pages_through_tags(client, alice):
    for tag in ("b", "a", "d", "c"):
        push_image(client, "alice/app", tag, basic("alice"))
    response = client.get("/v2/alice/app/tags/list", **basic("alice"))
    assert response.json() == {"name": "alice/app", "tags": ["a", "b", "c", "d"]}
    assert "Link" not in response
    first = client.get("/v2/alice/app/tags/list?n=2", **basic("alice"))
    assert first.json()["tags"] == ["a", "b"]
    assert first["Link"] == '</v2/alice/app/tags/list?n=2&last=b>; rel="next"'
    second = client.get("/v2/alice/app/tags/list?n=2&last=b", **basic("alice"))
    assert second.json()["tags"] == ["c", "d"]
    assert "Link" not in second
    response = client.get("/v2/alice/app/tags/list?n=abc", **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.django_db
def test_it_answers_name_unknown_for_tags_of_a_missing_repository(client, alice):
    response = client.get("/v2/alice/none/tags/list", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")


@pytest.mark.django_db
def test_it_shows_each_user_only_the_repositories_they_may_pull(client, acme, charlie, admin):
    push_image(client, "alice/private", "1", basic("alice"))
    push_image(client, "alice/shared", "1", basic("alice"))
    push_image(client, "acme/tool", "1", basic("bob"))
    push_image(client, "library/base", "1", basic("root"))
    Repository.objects.filter(name="alice/shared").update(visibility="public")

    def catalog(who: dict) -> list[str]:
        scoped = bearer(token(client, who, "registry:catalog:*"))
        response = client.get("/v2/_catalog", **scoped)
        assert response.status_code == 200
        return response.json()["repositories"]

    assert catalog(basic("alice")) == ["acme/tool", "alice/private", "alice/shared", "library/base"]
    assert catalog(basic("bob")) == ["acme/tool", "alice/shared", "library/base"]
    assert catalog(basic("charlie")) == ["alice/shared", "library/base"]
    assert len(catalog(basic("root"))) == 4


@pytest.mark.django_db
def test_it_pages_through_the_catalog(client, alice):
    for name in ("alice/a", "alice/b", "alice/c"):
        push_image(client, name, "1", basic("alice"))
    response = client.get("/v2/_catalog?n=2", **basic("alice"))
    assert response.json()["repositories"] == ["alice/a", "alice/b"]
    assert response["Link"] == '</v2/_catalog?n=2&last=alice%2Fb>; rel="next"'
    response = client.get("/v2/_catalog?n=2&last=alice/b", **basic("alice"))
    assert response.json()["repositories"] == ["alice/c"]


@pytest.mark.django_db
def test_it_requires_the_catalog_scope(client, alice):
    scoped = bearer(token(client, basic("alice"), "repository:alice/app:pull"))
    response = client.get("/v2/_catalog", **scoped)
    assert response.status_code == 401
    assert 'scope="registry:catalog:*"' in response["WWW-Authenticate"]
    response = client.get("/v2/_catalog")
    assert response.status_code == 401
