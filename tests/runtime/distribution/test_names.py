"""Where a reference goes, and how a registry's challenge is read."""

import pytest

from runtime.distribution.auth import parse_challenge
from runtime.distribution.names import base_url, resolve
from runtime.distribution.pull import pick_platform
from runtime.errors import NotFound

DEFAULT = "127.0.0.1:8000"


@pytest.mark.parametrize(
    ("ref", "registry", "repository", "local_tag"),
    [
        ("busybox", DEFAULT, "library/busybox", "busybox:latest"),
        ("docker.io/library/busybox:1", DEFAULT, "library/busybox", "busybox:1"),
        ("alice/app:2", DEFAULT, "alice/app", "alice/app:2"),
        ("127.0.0.1:9000/alice/app:1", "127.0.0.1:9000", "alice/app", "127.0.0.1:9000/alice/app:1"),
        ("reg.example:5000/app", "reg.example:5000", "app", "reg.example:5000/app:latest"),
    ],
)  # fmt: skip
def test_a_reference_names_a_registry_and_keeps_its_local_name(
    ref, registry, repository, local_tag
):
    remote = resolve(ref, DEFAULT)
    assert (remote.registry, remote.repository, remote.local_tag) == (
        registry,
        repository,
        local_tag,
    )


def test_a_digest_reference_asks_for_the_digest_and_tags_nothing():
    digest = "sha256:" + "a" * 64
    remote = resolve(f"busybox@{digest}", DEFAULT)
    assert remote.reference == digest
    assert remote.local_tag is None


def test_loopback_and_insecure_registries_use_plain_http():
    assert base_url("127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert base_url("localhost:5000") == "http://localhost:5000"
    assert base_url("registry.example") == "https://registry.example"
    assert base_url("lab:5000", insecure=["lab:5000"]) == "http://lab:5000"


def test_a_bearer_challenge_is_read_with_its_scope():
    challenge = parse_challenge(
        'Bearer realm="http://127.0.0.1:8000/auth/token",service="dockyard",'
        'scope="repository:alice/app:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "http://127.0.0.1:8000/auth/token"
    assert challenge.service == "dockyard"
    assert challenge.scope == "repository:alice/app:pull,push"


def test_an_index_without_this_platform_is_refused_clearly():
    index = {"manifests": [{"digest": "sha256:" + "b" * 64, "platform": {"os": "windows"}}]}
    with pytest.raises(NotFound, match="no matching manifest for linux/"):
        pick_platform(index)
