import asyncio

import pytest

from registry_app import storage
from registry_app.models import Blob, Repository
from registry_app.services import blobs

from .helpers import (
    asgi_call,
    basic,
    bearer,
    digest_of,
    error_code,
    no_body,
    push_blob,
    push_image,
    token,
)

DATA = bytes(range(256)) * 40


@pytest.mark.django_db
def test_it_serves_a_pushed_blob_with_its_digest(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    response = client.get(f"/v2/alice/app/blobs/{digest}", **basic("alice"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == DATA
    assert response["Docker-Content-Digest"] == digest
    assert response["Content-Length"] == str(len(DATA))
    head = client.head(f"/v2/alice/app/blobs/{digest}", **basic("alice"))
    assert head.status_code == 200
    assert head["Content-Length"] == str(len(DATA))
    assert head.content == b""


@pytest.mark.django_db
def test_it_serves_byte_ranges(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    url = f"/v2/alice/app/blobs/{digest}"
    response = client.get(url, HTTP_RANGE="bytes=10-19", **basic("alice"))
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == DATA[10:20]
    assert response["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    response = client.get(url, HTTP_RANGE="bytes=-5", **basic("alice"))
    assert b"".join(response.streaming_content) == DATA[-5:]
    response = client.get(url, HTTP_RANGE="bytes=100-", **basic("alice"))
    assert b"".join(response.streaming_content) == DATA[100:]
    for bad in ("bytes=99999-", "bytes=5-2", "items=1-2", "bytes=-0"):
        response = client.get(url, HTTP_RANGE=bad, **basic("alice"))
        assert response.status_code == 416, bad
        assert error_code(response) == "RANGE_INVALID"
        assert response["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.django_db
def test_it_refuses_a_monolithic_upload_with_the_wrong_digest(client, alice):
    wrong = digest_of(b"something else")
    response = client.post(
        f"/v2/alice/app/blobs/uploads/?digest={wrong}",
        data=DATA,
        content_type="application/octet-stream",
        **basic("alice"),
    )
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    response = client.head(f"/v2/alice/app/blobs/{wrong}", **basic("alice"))
    assert response.status_code == 404


@pytest.mark.django_db
def test_it_takes_an_upload_in_a_post_and_a_put(client, alice):
    start = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))
    assert start.status_code == 202
    assert start["Range"] == "0-0"
    location = start["Location"]
    assert location.endswith(start["Docker-Upload-UUID"])
    digest = digest_of(DATA)
    response = client.put(
        f"{location}?digest={digest}",
        data=DATA,
        content_type="application/octet-stream",
        **basic("alice"),
    )
    assert response.status_code == 201
    assert response["Location"] == f"/v2/alice/app/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest
    assert client.get(location, **basic("alice")).status_code == 404


@pytest.mark.django_db
def test_it_takes_chunks_in_order_and_refuses_them_out_of_order(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]

    def patch(first: int, last: int):
        return client.patch(
            location,
            data=DATA[first : last + 1],
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"{first}-{last}",
            **basic("alice"),
        )

    response = patch(0, 999)
    assert response.status_code == 202
    assert response["Range"] == "0-999"
    out_of_order = patch(2000, 2999)
    assert out_of_order.status_code == 416
    assert error_code(out_of_order) == "RANGE_INVALID"
    assert out_of_order["Range"] == "0-999"
    assert patch(0, 999).status_code == 416
    assert patch(1000, len(DATA) - 1).status_code == 202
    status = client.get(location, **basic("alice"))
    assert status.status_code == 204
    assert status["Range"] == f"0-{len(DATA) - 1}"
    assert status["Docker-Upload-UUID"] in location
    response = client.put(f"{location}?digest={digest_of(DATA)}", **basic("alice"))
    assert response.status_code == 201


@pytest.mark.django_db
def test_it_refuses_a_chunk_shorter_than_its_content_range(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    response = client.patch(
        location,
        data=b"abc",
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE="0-9",
        **basic("alice"),
    )
    assert response.status_code == 416
    assert client.get(location, **basic("alice"))["Range"] == "0-0"
    response = client.patch(
        location, data=b"abc", content_type="x", HTTP_CONTENT_RANGE="bogus", **basic("alice")
    )
    assert response.status_code == 416


@pytest.mark.django_db
def test_it_takes_streamed_chunks_without_content_range(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    for part in (DATA[:5000], DATA[5000:]):
        response = client.patch(
            location, data=part, content_type="application/octet-stream", **basic("alice")
        )
        assert response.status_code == 202
    response = client.put(f"{location}?digest={digest_of(DATA)}", **basic("alice"))
    assert response.status_code == 201


@pytest.mark.django_db
def test_it_refuses_to_finish_an_upload_with_a_wrong_or_missing_digest(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    client.patch(location, data=DATA, content_type="application/octet-stream", **basic("alice"))
    response = client.put(f"{location}?digest={digest_of(b'nope')}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
    response = client.put(location, **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
    response = client.put(f"{location}?digest={digest_of(DATA)}", **basic("alice"))
    assert response.status_code == 201


@pytest.mark.django_db
def test_it_cancels_an_upload(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    assert client.delete(location, **basic("alice")).status_code == 204
    response = client.get(location, **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "BLOB_UPLOAD_UNKNOWN")
    response = client.get("/v2/alice/app/blobs/uploads/not-a-uuid", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.django_db
def test_it_keeps_uploads_to_the_repository_they_started_in(client, alice):
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    other = location.replace("alice/app", "alice/other")
    client.post("/v2/alice/other/blobs/uploads/", **basic("alice"))
    response = client.get(other, **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.django_db
def test_it_serves_only_blobs_the_repository_has(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    push_blob(client, "alice/other", b"x", basic("alice"))
    response = client.get(f"/v2/alice/other/blobs/{digest}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "BLOB_UNKNOWN")


@pytest.mark.django_db
def test_it_tells_an_unknown_repository_from_an_unknown_blob(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    response = client.get(f"/v2/alice/nothing/blobs/{digest}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "NAME_UNKNOWN")
    response = client.get(f"/v2/alice/app/blobs/{digest_of(b'y')}", **basic("alice"))
    assert (response.status_code, error_code(response)) == (404, "BLOB_UNKNOWN")


@pytest.mark.django_db
def test_it_unlinks_a_blob_on_delete(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    assert client.delete(f"/v2/alice/app/blobs/{digest}", **basic("alice")).status_code == 202
    response = client.get(f"/v2/alice/app/blobs/{digest}", **basic("alice"))
    assert error_code(response) == "BLOB_UNKNOWN"
    response = client.delete(f"/v2/alice/app/blobs/{digest}", **basic("alice"))
    assert response.status_code == 404


@pytest.mark.django_db
def test_it_mounts_a_blob_from_a_repository_the_user_may_pull(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    response = client.post(
        f"/v2/alice/copy/blobs/uploads/?mount={digest}&from=alice/app", **basic("alice")
    )
    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == digest
    assert client.head(f"/v2/alice/copy/blobs/{digest}", **basic("alice")).status_code == 200


@pytest.mark.django_db
def test_it_uploads_instead_of_mounting_from_a_repository_the_user_may_not_pull(
    client, alice, charlie
):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    response = client.post(
        f"/v2/charlie/loot/blobs/uploads/?mount={digest}&from=alice/app", **basic("charlie")
    )
    assert response.status_code == 202
    assert client.head(f"/v2/charlie/loot/blobs/{digest}", **basic("charlie")).status_code == 404
    scoped = token(
        client, basic("charlie"), "repository:charlie/loot:pull,push", "repository:alice/app:pull"
    )
    response = client.post(
        f"/v2/charlie/loot/blobs/uploads/?mount={digest}&from=alice/app", **bearer(scoped)
    )
    assert response.status_code == 202


@pytest.mark.django_db
def test_it_refuses_charlie_every_blob_endpoint(client, alice, charlie):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    location = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    for who in (
        basic("charlie"),
        bearer(token(client, basic("charlie"), "repository:alice/app:*")),
    ):
        calls = [
            client.get(f"/v2/alice/app/blobs/{digest}", **who),
            client.head(f"/v2/alice/app/blobs/{digest}", **who),
            client.delete(f"/v2/alice/app/blobs/{digest}", **who),
            client.post("/v2/alice/app/blobs/uploads/", **who),
            client.post(
                f"/v2/alice/app/blobs/uploads/?digest={digest}",
                data=DATA,
                content_type="application/octet-stream",
                **who,
            ),
            client.get(location, **who),
            client.patch(location, data=b"x", content_type="x", **who),
            client.put(f"{location}?digest={digest}", **who),
            client.delete(location, **who),
        ]
        for response in calls:
            assert response.status_code == 403, response.request
            if response.request["REQUEST_METHOD"] != "HEAD":
                assert error_code(response) == "DENIED"
    assert client.get(location, **basic("alice")).status_code == 204
    assert Repository.objects.filter(name__startswith="charlie").count() == 0


@pytest.mark.django_db
def test_it_challenges_anonymous_blob_requests(client, alice):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    response = client.get(f"/v2/alice/app/blobs/{digest}")
    assert response.status_code == 401
    assert 'scope="repository:alice/app:pull"' in response["WWW-Authenticate"]
    response = client.post("/v2/alice/app/blobs/uploads/")
    assert 'scope="repository:alice/app:pull,push"' in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_it_lets_bob_push_to_his_team_but_not_delete(client, acme, bob):
    push_image(client, "acme/app", "1", basic("bob"))
    digest = push_blob(client, "acme/app", DATA, basic("bob"))
    response = client.delete(f"/v2/acme/app/blobs/{digest}", **basic("bob"))
    assert (response.status_code, error_code(response)) == (403, "DENIED")
    assert client.delete(f"/v2/acme/app/blobs/{digest}", **basic("alice")).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_a_blob_collected_right_after_its_lookup_is_unknown_not_a_server_error(
    client, alice, monkeypatch
):
    digest = push_blob(client, "alice/app", DATA, basic("alice"))
    # The lookup still found the blob; the collector removed its file just after.
    monkeypatch.setattr(blobs, "linked_blob", lambda name, d: Blob.objects.get(digest=d))
    storage.blob_path(digest).unlink()
    path = f"/v2/alice/app/blobs/{digest}"
    status, _ = asyncio.run(asgi_call("GET", path, no_body(), basic("alice")))
    assert status == 404
