import pytest

from .helpers import basic, error_code, push_image


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["Alice/app", "alice/app-", "alice//app", "alice/_app", "alice/a..b", "a" * 256, "alice/äpp"],
)
def test_it_refuses_malformed_names(client, alice, name):
    response = client.get(f"/v2/{name}/tags/list", **basic("alice"))
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"


@pytest.mark.django_db
def test_it_refuses_malformed_tags_and_digests(client, alice):
    push_image(client, "alice/app", "1", basic("alice"))
    response = client.get("/v2/alice/app/manifests/-bad", **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    response = client.put(
        "/v2/alice/app/manifests/.bad", data=b"{}", content_type="x", **basic("alice")
    )
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    response = client.get("/v2/alice/app/blobs/sha256:1234", **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
    response = client.get("/v2/alice/app/blobs/md5:" + "a" * 32, **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
