import pytest

from runtime.errors import InvalidInput
from runtime.images.reference import Reference, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, expected, familiar",
    [
        ("busybox", Reference(None, "busybox", "latest", None), "busybox:latest"),
        ("library/busybox:1.36", Reference(None, "busybox", "1.36", None), "busybox:1.36"),
        ("docker.io/library/debian", Reference(None, "debian", "latest", None), "debian:latest"),
        (
            "alice/app:v1.0-rc_1",
            Reference(None, "alice/app", "v1.0-rc_1", None),
            "alice/app:v1.0-rc_1",
        ),
        (
            "registry.local:5000/team/app",
            Reference("registry.local:5000", "team/app", "latest", None),
            "registry.local:5000/team/app:latest",
        ),
        ("localhost/app:dev", Reference("localhost", "app", "dev", None), "localhost/app:dev"),
        (f"busybox@{DIGEST}", Reference(None, "busybox", None, DIGEST), f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", Reference(None, "busybox", "1", DIGEST), f"busybox:1@{DIGEST}"),
        (
            "reg.example.com/a/b__c-d.e",
            Reference("reg.example.com", "a/b__c-d.e", "latest", None),
            "reg.example.com/a/b__c-d.e:latest",
        ),
    ],
)
def test_it_parses_references_like_docker(text, expected, familiar):
    ref = parse_reference(text)

    assert ref == expected
    assert str(ref) == familiar


@pytest.mark.parametrize(
    "text",
    [
        "",
        " busybox",
        "busybox:",
        "busybox:-x",
        "-busybox",
        "busy//box",
        "a_b.example/x",
        "busybox@sha256:abc",
        "a" * 256,
        "app:" + "t" * 129,
        "app_/x",
        ":tag",
    ],
)
def test_it_refuses_malformed_references(text):
    with pytest.raises(InvalidInput, match="invalid reference format"):
        parse_reference(text)


def test_it_says_a_repository_must_be_lowercase():
    with pytest.raises(InvalidInput, match=r"repository name \(alice/App\) must be lowercase"):
        parse_reference("alice/App")
