import json

import pytest

from registry_app import manifests
from registry_app.models import Repository

from .helpers import (
    OCI_CONFIG,
    basic,
    bearer,
    digest_of,
    error_code,
    image_manifest,
    push_blob,
    push_image,
    token,
)

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYER = b"layer-bytes"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def put(client, name, reference, body: bytes, media_type: str, who: dict):
    return client.put(
        f"/v2/{name}/manifests/{reference}", data=body, content_type=media_type, **who
    )


def with_blobs(client, name="alice/app", who=None):
    who = who or basic("alice")
    push_blob(client, name, CONFIG, who)
    push_blob(client, name, LAYER, who)


def docker_manifest() -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": manifests.DOCKER_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "digest": digest_of(CONFIG),
                "size": len(CONFIG),
            },
            "layers": [{"mediaType": DOCKER_LAYER, "digest": digest_of(LAYER), "size": len(LAYER)}],
        }
    ).encode()


def index_of(media_type: str, child: bytes, child_type: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {
                    "mediaType": child_type,
                    "digest": digest_of(child),
                    "size": len(child),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()


@pytest.mark.django_db
@pytest.mark.parametrize("media_type", [manifests.DOCKER_MANIFEST, manifests.OCI_MANIFEST])
def test_it_stores_image_manifests_by_tag_and_digest(client, alice, media_type):
    with_blobs(client)
    if media_type == manifests.DOCKER_MANIFEST:
        body = docker_manifest()
    else:
        body = image_manifest(CONFIG, [LAYER])
    digest = digest_of(body)
    response = put(client, "alice/app", "v1", body, media_type, basic("alice"))
    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == digest
    assert response["Location"] == f"/v2/alice/app/manifests/{digest}"
    for reference in ("v1", digest):
        got = client.get(f"/v2/alice/app/manifests/{reference}", **basic("alice"))
        assert got.status_code == 200
        assert got.content == body
        assert got["Content-Type"] == media_type
        assert got["Docker-Content-Digest"] == digest
        head = client.head(f"/v2/alice/app/manifests/{reference}", **basic("alice"))
        assert head.status_code == 200
        assert head["Content-Length"] == str(len(body))
        assert head["Docker-Content-Digest"] == digest


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("index_type", "child_type"),
    [
        (manifests.DOCKER_LIST, manifests.DOCKER_MANIFEST),
        (manifests.OCI_INDEX, manifests.OCI_MANIFEST),
    ],
)
def test_it_stores_indexes_of_manifests_it_has(client, alice, index_type, child_type):
    with_blobs(client)
    child = (
        docker_manifest()
        if child_type == manifests.DOCKER_MANIFEST
        else image_manifest(CONFIG, [LAYER])
    )
    index = index_of(index_type, child, child_type)
    response = put(client, "alice/app", "multi", index, index_type, basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert (
        put(client, "alice/app", digest_of(child), child, child_type, basic("alice")).status_code
        == 201
    )
    assert put(client, "alice/app", "multi", index, index_type, basic("alice")).status_code == 201
    got = client.get("/v2/alice/app/manifests/multi", **basic("alice"))
    assert got["Content-Type"] == index_type
    assert got.content == index


@pytest.mark.django_db
def test_it_refuses_a_manifest_pushed_by_another_digest(client, alice):
    with_blobs(client)
    body = image_manifest(CONFIG, [LAYER])
    wrong = digest_of(b"other")
    response = put(client, "alice/app", wrong, body, manifests.OCI_MANIFEST, basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")


@pytest.mark.django_db
def test_it_refuses_manifests_over_4_mib(client, alice):
    with_blobs(client)
    padding = {"org.example.padding": "x" * (4 * 1024 * 1024)}
    body = image_manifest(CONFIG, [LAYER], annotations=padding)
    response = put(client, "alice/app", "big", body, manifests.OCI_MANIFEST, basic("alice"))
    assert (response.status_code, error_code(response)) == (413, "SIZE_INVALID")


@pytest.mark.django_db
def test_it_refuses_manifests_referencing_blobs_the_repository_lacks(client, alice):
    push_blob(client, "alice/app", CONFIG, basic("alice"))
    push_blob(client, "alice/elsewhere", LAYER, basic("alice"))
    body = image_manifest(CONFIG, [LAYER])
    response = put(client, "alice/app", "v1", body, manifests.OCI_MANIFEST, basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert response.json()["errors"][0]["detail"] == {"digest": digest_of(LAYER)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"not json", manifests.OCI_MANIFEST),
        (b"[1, 2]", manifests.OCI_MANIFEST),
        (
            b'{"schemaVersion": 1, "name": "x"}',
            "application/vnd.docker.distribution.manifest.v1+json",
        ),
        (b'{"schemaVersion": 2, "layers": []}', manifests.OCI_MANIFEST),
        (
            b'{"schemaVersion": 2, "config": {"digest": "nope", "size": 1, "mediaType": "x"}, '
            b'"layers": []}',
            manifests.OCI_MANIFEST,
        ),
        (
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", '
            b'"manifests": []}',
            manifests.OCI_MANIFEST,
        ),
        (b"\xff\xfe", manifests.OCI_MANIFEST),
    ],
)
def test_it_refuses_invalid_manifests(client, alice, body, media_type):
    response = put(client, "alice/app", "v1", body, media_type, basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_INVALID")


@pytest.mark.django_db
def test_it_refuses_a_descriptor_whose_size_is_wrong(client, alice):
    with_blobs(client)
    body = json.loads(image_manifest(CONFIG, [LAYER]))
    body["layers"][0]["size"] = 1
    response = put(
        client, "alice/app", "v1", json.dumps(body).encode(), manifests.OCI_MANIFEST, basic("alice")
    )
    assert (response.status_code, error_code(response)) == (400, "MANIFEST_INVALID")


@pytest.mark.django_db
def test_it_answers_unknown_manifests_and_repositories(client, alice):
    response = client.get("/v2/alice/nothing/manifests/v1", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    push_image(client, "alice/app", "v1", basic("alice"))
    response = client.get("/v2/alice/app/manifests/v2", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")
    response = client.get(f"/v2/alice/app/manifests/{digest_of(b'x')}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")


@pytest.mark.django_db
def test_it_deletes_tags_and_manifests(client, alice):
    digest = push_image(client, "alice/app", "v1", basic("alice"))
    client.put(
        "/v2/alice/app/manifests/v2",
        data=client.get("/v2/alice/app/manifests/v1", **basic("alice")).content,
        content_type=manifests.OCI_MANIFEST,
        **basic("alice"),
    )
    assert client.delete("/v2/alice/app/manifests/v1", **basic("alice")).status_code == 202
    assert client.get("/v2/alice/app/manifests/v1", **basic("alice")).status_code == 404
    assert client.get("/v2/alice/app/manifests/v2", **basic("alice")).status_code == 200
    assert client.delete(f"/v2/alice/app/manifests/{digest}", **basic("alice")).status_code == 202
    assert client.get("/v2/alice/app/manifests/v2", **basic("alice")).status_code == 404
    response = client.delete(f"/v2/alice/app/manifests/{digest}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "MANIFEST_UNKNOWN")


@pytest.mark.django_db
def test_it_refuses_charlie_every_manifest_endpoint(client, alice, charlie):
    digest = push_image(client, "alice/app", "v1", basic("alice"))
    body = client.get("/v2/alice/app/manifests/v1", **basic("alice")).content
    scoped = bearer(token(client, basic("charlie"), "repository:alice/app:pull,push,delete"))
    for who in (basic("charlie"), scoped):
        calls = [
            client.get("/v2/alice/app/manifests/v1", **who),
            client.head(f"/v2/alice/app/manifests/{digest}", **who),
            put(client, "alice/app", "v2", body, manifests.OCI_MANIFEST, who),
            client.delete(f"/v2/alice/app/manifests/{digest}", **who),
            client.delete("/v2/alice/app/manifests/v1", **who),
            client.get("/v2/alice/app/tags/list", **who),
            client.get(f"/v2/alice/app/referrers/{digest}", **who),
        ]
        assert [r.status_code for r in calls] == [403] * len(calls)
    assert client.get("/v2/alice/app/manifests/v1", **basic("alice")).status_code == 200


@pytest.mark.django_db
def test_it_lets_charlie_pull_but_not_push_a_public_repository(client, alice, charlie):
    push_image(client, "alice/app", "v1", basic("alice"))
    Repository.objects.filter(name="alice/app").update(visibility="public")
    assert client.get("/v2/alice/app/manifests/v1", **basic("charlie")).status_code == 200
    scoped = bearer(token(client, {}, "repository:alice/app:pull"))
    assert client.get("/v2/alice/app/manifests/v1", **scoped).status_code == 200
    body = client.get("/v2/alice/app/manifests/v1", **basic("charlie")).content
    response = put(client, "alice/app", "evil", body, manifests.OCI_MANIFEST, basic("charlie"))
    assert response.status_code == 403


@pytest.mark.django_db
def test_it_creates_team_repositories_on_a_members_first_push(client, acme, bob, charlie):
    with_blobs(client, "acme/app", basic("bob"))
    body = image_manifest(CONFIG, [LAYER])
    assert (
        put(client, "acme/app", "1", body, manifests.OCI_MANIFEST, basic("bob")).status_code == 201
    )
    repository = Repository.objects.get(name="acme/app")
    assert repository.namespace.team == acme
    assert repository.manifests.get().pushed_by == bob
    assert client.get("/v2/acme/app/manifests/1", **basic("charlie")).status_code == 403


@pytest.mark.django_db
def test_it_keeps_pushes_to_library_for_administrators(client, alice, admin):
    assert client.post("/v2/library/busybox/blobs/uploads/", **basic("alice")).status_code == 403
    push_image(client, "library/busybox", "latest", basic("root"))
    assert client.get("/v2/library/busybox/manifests/latest", **basic("alice")).status_code == 200
    anonymous = bearer(token(client, {}, "repository:library/busybox:pull"))
    assert client.get("/v2/library/busybox/manifests/latest", **anonymous).status_code == 200


@pytest.mark.django_db
def test_it_accepts_a_manifest_without_a_media_type_header(client, alice):
    with_blobs(client)
    body = image_manifest(CONFIG, [LAYER])
    assert (
        put(client, "alice/app", "v1", body, "application/json", basic("alice")).status_code == 201
    )
    got = client.get("/v2/alice/app/manifests/v1", **basic("alice"))
    assert got["Content-Type"] == manifests.OCI_MANIFEST
    assert OCI_CONFIG in got.content.decode()
