import pytest

from registry_app import manifests

from .helpers import basic, digest_of, error_code, image_manifest, push_blob, push_image

SBOM = "application/vnd.example.sbom.v1"


def push_referrer(client, subject: str, artifact_type: str, note: str) -> str:
    config = b"{}"
    push_blob(client, "alice/app", config, basic("alice"))
    body = image_manifest(
        config,
        [],
        artifactType=artifact_type,
        subject={"mediaType": manifests.OCI_MANIFEST, "digest": subject, "size": 1},
        annotations={"note": note},
    )
    digest = digest_of(body)
    response = client.put(
        f"/v2/alice/app/manifests/{digest}",
        data=body,
        content_type=manifests.OCI_MANIFEST,
        **basic("alice"),
    )
    assert response.status_code == 201
    assert response["OCI-Subject"] == subject
    return digest


@pytest.mark.django_db
def test_it_lists_the_manifests_that_refer_to_a_subject(client, alice):
    subject = push_image(client, "alice/app", "v1", basic("alice"))
    sbom = push_referrer(client, subject, SBOM, "sbom")
    signature = push_referrer(client, subject, "application/vnd.example.sig", "sig")
    response = client.get(f"/v2/alice/app/referrers/{subject}", **basic("alice"))
    assert response.status_code == 200
    assert response["Content-Type"] == manifests.OCI_INDEX
    found = response.json()["manifests"]
    assert [d["digest"] for d in found] == [sbom, signature]
    assert found[0]["artifactType"] == SBOM
    assert found[0]["annotations"] == {"note": "sbom"}

    filtered = client.get(
        f"/v2/alice/app/referrers/{subject}?artifactType={SBOM}", **basic("alice")
    )
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sbom]
    assert filtered["OCI-Filters-Applied"] == "artifactType"


@pytest.mark.django_db
def test_it_answers_an_empty_index_for_a_subject_without_referrers(client, alice):
    push_image(client, "alice/app", "v1", basic("alice"))
    response = client.get(f"/v2/alice/app/referrers/{digest_of(b'none')}", **basic("alice"))
    assert response.status_code == 200
    assert response.json()["manifests"] == []
    response = client.get("/v2/alice/app/referrers/sha256:bad", **basic("alice"))
    assert (response.status_code, error_code(response)) == (400, "DIGEST_INVALID")
