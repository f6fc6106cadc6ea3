import os
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry_app import storage
from registry_app.models import Blob, RepositoryBlob, Upload
from registry_app.services.collection import do_collect_garbage

from .helpers import basic, digest_of, push_blob, push_image


def age(digest: str, hours: float) -> None:
    then = timezone.now() - timedelta(hours=hours)
    Blob.objects.filter(digest=digest).update(created=then)
    RepositoryBlob.objects.filter(blob__digest=digest).update(linked_at=then)
    stamp = then.timestamp()
    os.utime(storage.blob_path(digest), (stamp, stamp))


@pytest.mark.django_db
def test_it_removes_unreferenced_blobs_and_keeps_referenced_ones(client, alice):
    push_image(client, "alice/app", "1", basic("alice"), layer=b"kept-layer")
    orphan = push_blob(client, "alice/app", b"orphan" * 100, basic("alice"))
    kept = digest_of(b"kept-layer")
    age(orphan, 2)
    age(kept, 2)
    report = do_collect_garbage()
    assert report.blobs_removed == 1
    assert report.bytes_freed == 600
    assert not storage.blob_path(orphan).exists()
    assert storage.blob_path(kept).exists()
    assert client.get(f"/v2/alice/app/blobs/{kept}", **basic("alice")).status_code == 200
    assert client.get(f"/v2/alice/app/blobs/{orphan}", **basic("alice")).status_code == 404


@pytest.mark.django_db
def test_it_keeps_blobs_of_a_push_in_progress(client, alice):
    fresh = push_blob(client, "alice/app", b"just uploaded", basic("alice"))
    relinked = push_blob(client, "alice/app", b"old but linked again", basic("alice"))
    age(relinked, 5)
    RepositoryBlob.objects.filter(blob__digest=relinked).update(linked_at=timezone.now())
    report = do_collect_garbage()
    assert report.blobs_removed == 0
    assert storage.blob_path(fresh).exists()
    assert storage.blob_path(relinked).exists()


@pytest.mark.django_db
def test_it_removes_uploads_older_than_a_day(client, alice):
    old = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    client.patch(old, data=b"x" * 10, content_type="application/octet-stream", **basic("alice"))
    recent = client.post("/v2/alice/app/blobs/uploads/", **basic("alice"))["Location"]
    Upload.objects.filter(uuid=old.rsplit("/", 1)[1]).update(
        started=timezone.now() - timedelta(hours=25)
    )
    out = StringIO()
    call_command("registry_gc", stdout=out)
    assert "1 uploads" in out.getvalue()
    assert "freed 10 bytes" in out.getvalue()
    assert client.get(old, **basic("alice")).status_code == 404
    assert client.get(recent, **basic("alice")).status_code == 204
