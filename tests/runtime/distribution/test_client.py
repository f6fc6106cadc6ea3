"""The registry client against the platform's real registry (its web process), as alice, bob and
charlie: push, pull, mounts, indexes, resumed downloads, refusals."""

import io
import json
import os
import secrets
import shutil
import tarfile
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform
from runtime.distribution import client as client_module
from runtime.distribution.auth import Credentials
from runtime.distribution.client import OCI_INDEX, RegistryClient
from runtime.distribution.errors import AccessDenied, AuthenticationFailed
from runtime.distribution.names import resolve
from runtime.distribution.pull import machine_arch, pull
from runtime.distribution.push import push
from runtime.distribution.records import DistributionRecords
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

pytestmark = pytest.mark.e2e

SERVICES = ("redis", "worker", "agent", "web", "gateway")
SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_add_member, do_create_team
alice = User.objects.create_user("alice", password="alice-pw-1")
bob = User.objects.create_user("bob", password="bob-pw-1")
User.objects.create_user("charlie", password="charlie-pw-1")
do_add_member(do_create_team("acme", alice), bob, "write")
"""
ALICE = Credentials("alice", "alice-pw-1")
BOB = Credentials("bob", "bob-pw-1")
CHARLIE = Credentials("charlie", "charlie-pw-1")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun"):
        pytest.skip("the platform needs root and crun")
    root = tmp_path_factory.mktemp("dist-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"ds{secrets.token_hex(2)}"
    with ephemeral_platform(root, run, images=(), services=SERVICES) as platform:
        platform.manage("shell", "-c", SETUP)
        yield f"127.0.0.1:{platform.env['DOCKYARD_PORT']}"
    shutil.rmtree(run, ignore_errors=True)


def _node(tmp_path: Path, name: str) -> RuntimePaths:
    return RuntimePaths(root=tmp_path / name, run=tmp_path / f"{name}-run").ensure()


def _image(paths: RuntimePaths, tag: str, size: int = 64 * 1024) -> str:
    """A local image with one plain layer of random content (as commits make them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = secrets.token_bytes(size)
        member = tarfile.TarInfo("data.bin")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    buffer.seek(0)
    return ImageStore(paths).add_image([buffer], {"config": {"Cmd": ["sh"]}}, [tag]).id


def _push(paths, registry, credentials, name, events=None):
    remote = resolve(f"{registry}/{name}", "unused:1")
    with RegistryClient(registry, credentials) as client:
        return push(
            paths,
            client,
            f"{registry}/{name}",
            remote,
            (events if events is not None else []).append,
        )


def test_it_pushes_and_pulls_back_the_same_image(registry, tmp_path):
    here, there = _node(tmp_path, "here"), _node(tmp_path, "there")
    ref = f"{registry}/alice/roundtrip:1"
    image_id = _image(here, ref)
    pushed = _push(here, registry, ALICE, "alice/roundtrip:1")
    events = []
    with RegistryClient(registry, ALICE) as client:
        pulled = pull(there, client, resolve(ref, "unused:1"), events.append)
    assert pulled.image.id == image_id
    assert pulled.digest == pushed.digest
    assert pulled.image.tags == [ref]
    assert pulled.image.layers[0].media_type.endswith("gzip")
    statuses = [e.status for e in events]
    assert statuses[0] == "Pulling fs layer" and statuses[-1] == "Pull complete"
    downloading = [e for e in events if e.status == "Downloading"]
    assert downloading[-1].current == downloading[-1].total == pulled.image.layers[0].size
    digests = DistributionRecords(there).repo_digests()[image_id]
    assert digests == {f"{registry}/alice/roundtrip": pushed.digest}


def test_a_second_push_neither_compresses_nor_uploads(registry, tmp_path, monkeypatch):
    here = _node(tmp_path, "here")
    _image(here, f"{registry}/alice/twice:1")
    first = _push(here, registry, ALICE, "alice/twice:1")
    monkeypatch.setattr("runtime.distribution.push.compress", _refuse)
    events = []
    second = _push(here, registry, ALICE, "alice/twice:1", events)
    assert second.digest == first.digest
    assert [e.status for e in events] == ["Preparing", "Layer already exists"]


def _refuse(*args):
    raise AssertionError("compressed a layer whose compressed digest was known")


def test_a_layer_known_in_another_repository_is_mounted(registry, tmp_path):
    here = _node(tmp_path, "here")
    image_id = _image(here, f"{registry}/acme/one:1")
    _push(here, registry, BOB, "acme/one:1")
    ImageStore(here).tag(image_id, f"{registry}/acme/two:1")
    events = []
    _push(here, registry, BOB, "acme/two:1", events)
    assert "Mounted from acme/one" in [e.status for e in events]


def test_a_broken_download_resumes_where_it_stopped(registry, tmp_path, monkeypatch):
    here, there = _node(tmp_path, "here"), _node(tmp_path, "there")
    ref = f"{registry}/alice/resume:1"
    image_id = _image(here, ref, size=3 * 1024 * 1024)
    _push(here, registry, ALICE, "alice/resume:1")
    offsets = []
    real_open = client_module.RegistryClient.open_blob

    def flaky_open(self, repository, digest, scopes, offset=0):
        offsets.append(offset)
        response = real_open(self, repository, digest, scopes, offset)
        if len(offsets) == 2:
            return _BreaksAfter(response, 256 * 1024)
        return response

    monkeypatch.setattr(client_module.RegistryClient, "open_blob", flaky_open)
    with RegistryClient(registry, ALICE) as client:
        pulled = pull(there, client, resolve(ref, "unused:1"))
    assert pulled.image.id == image_id
    assert offsets[2] > 0


class _BreaksAfter:
    """A response whose connection drops after `limit` bytes."""

    def __init__(self, response, limit):
        self.response, self.left = response, limit

    def read(self, amount):
        if self.left <= 0:
            raise OSError("connection reset by peer")
        chunk = self.response.read(min(amount, self.left))
        self.left -= len(chunk)
        return chunk

    def close(self):
        self.response.close()

    def release_conn(self):
        self.response.release_conn()


def test_an_index_gives_this_machines_image(registry, tmp_path):
    here, there = _node(tmp_path, "here"), _node(tmp_path, "there")
    image_id = _image(here, f"{registry}/alice/multi:amd")
    pushed = _push(here, registry, ALICE, "alice/multi:amd")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": pushed.digest,
                "size": pushed.size,
                "platform": {"os": "linux", "architecture": machine_arch()},
            }
        ],
    }
    content = json.dumps(index).encode()
    scopes = ("repository:alice/multi:pull,push",)
    with RegistryClient(registry, ALICE) as client:
        index_digest = client.put_manifest("alice/multi", "all", content, OCI_INDEX, scopes)
        pulled = pull(there, client, resolve(f"{registry}/alice/multi:all", "unused:1"))
    assert pulled.image.id == image_id
    assert pulled.digest == index_digest


def test_a_wrong_password_fails_the_login(registry):
    wrong = RegistryClient(registry, Credentials("alice", "wrong"))
    with wrong as client, pytest.raises(AuthenticationFailed, match="login to .* failed"):
        client.login()
    with RegistryClient(registry, ALICE) as client:
        client.login()


def test_charlie_can_neither_pull_nor_push_alices_repositories(registry, tmp_path):
    here, there = _node(tmp_path, "here"), _node(tmp_path, "there")
    ref = f"{registry}/alice/private:1"
    _image(here, ref)
    _push(here, registry, ALICE, "alice/private:1")
    outsider = RegistryClient(registry, CHARLIE)
    with outsider as client, pytest.raises(AccessDenied, match="pull access denied"):
        pull(there, client, resolve(ref, "unused:1"))
    with pytest.raises(AccessDenied, match="denied"):
        _push(here, registry, CHARLIE, "alice/private:1")
    assert ImageStore(there).list() == []
