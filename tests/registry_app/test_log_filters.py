import logging

import pytest

from .helpers import basic, digest_of, push_blob

UNKNOWN = digest_of(b"not pushed")


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "django.request"]


@pytest.mark.django_db
def test_the_handshakes_of_a_pull_and_a_push_are_not_warned_of(client, alice, caplog):
    caplog.set_level(logging.WARNING)
    assert client.get("/v2/").status_code == 401
    assert client.head(f"/v2/alice/app/blobs/{UNKNOWN}", **basic("alice")).status_code == 404
    push_blob(client, "alice/app", b"layer", basic("alice"))
    assert _warnings(caplog) == []


@pytest.mark.django_db
def test_refused_credentials_denied_access_and_missing_content_are(client, alice, charlie, caplog):
    caplog.set_level(logging.WARNING)
    assert client.get("/v2/", **basic("alice", "wrong")).status_code == 401
    push_blob(client, "alice/app", b"layer", basic("alice"))
    denied = client.post("/v2/alice/app/blobs/uploads/", **basic("charlie"))
    assert denied.status_code == 403
    assert client.get(f"/v2/alice/app/blobs/{UNKNOWN}", **basic("alice")).status_code == 404
    assert _warnings(caplog) == [
        "Unauthorized: /v2/",
        "Forbidden: /v2/alice/app/blobs/uploads/",
        f"Not Found: /v2/alice/app/blobs/{UNKNOWN}",
    ]
