"""mallory, with a personal access token over TCP, goes after other users' images.

One image store per node holds everyone's images. mallory tries to overwrite the shared base
image (`busybox`, which the admin runs next), to read alice's private image by name, id or
id prefix, and to take or remove what is not hers, through every Engine API route that
names, reads or writes an image. Each attempt is refused with Docker's JSON error (403, or
404 "No such image" as for a missing image), and the victims' images stay as they were.
bob, alice's teammate with the write role, uses and extends the team's images; charlie, an
outsider, sees none of them.

The node's store is real (runtime/images in a temporary root, tasks run in this process);
what needs a running agent (a build's steps, a load) is refused before the agent is asked,
and tests/e2e/test_image_tenancy.py replays the attacks with the docker CLI on a platform.
"""

import io
import json
import tarfile

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.services import do_add_member, do_create_team, do_create_token
from engine.models import Container, Image, ImageClaim, Network, NetworkAttachment
from engine.nodes import local_node
from engine.services.images import sync_images
from engine.tasks.base import node_paths
from runtime.images.store import ImageStore

pytestmark = pytest.mark.django_db

API = "/v1.47"


def layer(marker: str) -> io.BytesIO:
    data = marker.encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def add_image(marker: str, *names: str) -> str:
    """An image whose only file says `marker`, named `names`, in the node's store."""
    config = {"config": {"Cmd": ["sh"]}, "created": "2024-01-01T00:00:00Z"}
    image = ImageStore(node_paths()).add_image([layer(marker)], config, names)
    sync_images(local_node())
    return image.id


def store_target(name: str) -> str:
    return ImageStore(node_paths()).get(name).id


def client_of(user, scopes=("read", "write")) -> Client:
    _, secret = do_create_token(user, "cli", list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def message(response) -> str:
    return response.json()["message"]


@pytest.fixture
def node(settings, tmp_path):
    """A node of its own whose tasks run here, with the base image the admin imported and
    alice's private image."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DOCKYARD_ROOT = tmp_path / "root"
    settings.DOCKYARD_NODE = "tenancy"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return local_node()


@pytest.fixture
def base(node) -> str:
    return add_image("base busybox", "busybox:latest")


@pytest.fixture
def secret(node, alice) -> str:
    """alice's private image, as her `docker pull 127.0.0.1:8000/alice/secret:1` left it."""
    image_id = add_image("alice's secret", "alice/secret:1", "127.0.0.1:8000/alice/secret:1")
    return image_id


@pytest.fixture
def mallory(db):
    return User.objects.create_user("mallory")


@pytest.fixture
def acme(alice, bob):
    team = do_create_team("acme", alice)
    do_add_member(team, bob, "write")
    return team


def container_of(owner, name: str, image_id: str) -> Container:
    return Container.objects.create(
        id=name.ljust(64, "0"),
        name=name,
        node=local_node(),
        owner=owner,
        image_id=image_id,
        image_ref="busybox:latest",
        config={"Cmd": ["sh"]},
        status="running",
        created=timezone.now(),
    )


def archive(repo_tags: list[str], *, link_manifest: bool = False) -> bytes:
    """A docker-archive of one tiny image whose manifest.json names it `repo_tags`."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "config": {}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": repo_tags, "Layers": []}])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("config.json", config), ("real.json", manifest.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("manifest.json")
        if link_manifest:
            info.type, info.linkname = tarfile.SYMTYPE, "real.json"
            tar.addfile(info)
        else:
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest.encode()))
    return out.getvalue()


# --- poisoning the shared base image ---------------------------------------------------------


def test_mallory_cannot_build_over_the_shared_busybox(node, base, mallory):
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = b"FROM busybox\nRUN echo mallory>/POISON\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    response = client_of(mallory).post(
        f"{API}/build?t=busybox:latest",
        data=context.getvalue(),
        content_type="application/x-tar",
    )
    assert response.status_code == 403
    assert "library namespace" in message(response)
    assert store_target("busybox:latest") == base


@pytest.mark.parametrize("target", ["busybox:latest", "debian:bookworm", "library/busybox:1"])
def test_mallory_cannot_tag_over_a_shared_name(node, base, mallory, target):
    client = client_of(mallory)
    # A copy of the base image in her own namespace is hers to make.
    assert client.post(f"{API}/images/busybox/tag?repo=mallory/bb&tag=1").status_code == 201
    repo, _, tag = target.partition(":")
    response = client.post(f"{API}/images/mallory/bb:1/tag?repo={repo}&tag={tag}")
    assert response.status_code == 403
    assert "only administrators" in message(response)
    assert store_target("busybox:latest") == base


def test_mallory_cannot_load_an_archive_that_names_busybox(node, base, mallory):
    client = client_of(mallory)
    response = client.post(
        f"{API}/images/load", data=archive(["busybox:latest"]), content_type="application/x-tar"
    )
    assert response.status_code == 403
    assert "library namespace" in message(response)
    # A manifest.json that points elsewhere is not followed, so it cannot hide the names.
    response = client.post(
        f"{API}/images/load",
        data=archive(["busybox:latest"], link_manifest=True),
        content_type="application/x-tar",
    )
    assert response.status_code == 400
    assert store_target("busybox:latest") == base


def test_mallory_cannot_import_or_commit_into_busybox(node, base, mallory):
    client = client_of(mallory)
    response = client.post(
        f"{API}/images/create?fromSrc=-&repo=busybox&tag=latest",
        data=layer("poison").getvalue(),
        content_type="application/x-tar",
    )
    assert response.status_code == 403
    hers = container_of(mallory, "mallorys", base)
    response = client.post(
        f"{API}/commit?container={hers.id}&repo=busybox&tag=latest",
        data=b"{}",
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "library namespace" in message(response)
    assert store_target("busybox:latest") == base


def test_mallory_cannot_name_images_in_alices_namespace_or_on_other_registries(
    node, base, secret, mallory
):
    client = client_of(mallory)
    for repo in ("alice/secret", "127.0.0.1:8000/alice/secret", "ghcr.io/mallory/x"):
        response = client.post(f"{API}/images/busybox/tag?repo={repo}&tag=1")
        assert response.status_code == 403, repo
    assert store_target("alice/secret:1") == secret


def test_mallory_cannot_remove_the_shared_busybox(node, base, mallory):
    client = client_of(mallory)
    for ref in ("busybox", base, base[7:19]):
        response = client.delete(f"{API}/images/{ref}?force=1")
        assert response.status_code == 403, ref
        assert "read-only" in message(response)
    assert store_target("busybox:latest") == base


def test_mallorys_dashboard_cannot_remove_the_shared_busybox(node, base, mallory):
    browser = Client()
    browser.force_login(mallory)
    browser.post(f"/ui/images/{base}/remove/", {"ref": "busybox:latest", "force": "1"})
    assert store_target("busybox:latest") == base


# --- reading alice's private image ------------------------------------------------------------


def test_mallory_sees_nothing_of_alices_image(node, base, secret, mallory):
    client = client_of(mallory)
    listed = client.get(f"{API}/images/json").json()
    assert [i["Id"] for i in listed] == [base]
    assert listed[0]["RepoTags"] == ["busybox:latest"]
    routes = [
        ("get", "/images/{}/json"),
        ("get", "/images/{}/history"),
        ("get", "/images/{}/get"),
        ("post", "/images/{}/tag?repo=mallory/stolen"),
        ("delete", "/images/{}?force=1"),
    ]
    for ref in ("alice/secret:1", "127.0.0.1:8000/alice/secret:1", secret, secret[7:19]):
        for method, route in routes:
            response = getattr(client, method)(API + route.format(ref))
            assert response.status_code == 404, (method, route, ref)
            assert message(response).startswith("No such image"), (route, ref)
        response = client.post(
            f"{API}/containers/create", {"Image": ref}, content_type="application/json"
        )
        assert response.status_code == 404
        assert message(response).startswith("No such image")
    response = client.get(f"{API}/images/get?names=busybox&names=alice/secret:1")
    assert response.status_code == 404
    response = client.post(f"{API}/images/alice/secret/push?tag=1")
    assert response.status_code == 404
    assert store_target("alice/secret:1") == secret


def test_an_id_prefix_shared_with_alices_image_reveals_nothing(node, alice, mallory):
    def row(image_id: str, tags: list[str]) -> Image:
        return Image.objects.create(
            node=node, image_id=image_id, tags=tags, config={}, created=timezone.now()
        )

    row("sha256:abcd" + "1" * 60, ["alice/a:1"])
    mine = row("sha256:abcd" + "2" * 60, [])
    ImageClaim.objects.create(image=mine, user=mallory)
    # Among everything "abcd" is ambiguous; among what mallory sees it is her image.
    response = client_of(mallory).get(f"{API}/images/abcd/json")
    assert response.status_code == 200
    assert response.json()["Id"] == mine.image_id


def test_mallory_cannot_pull_alices_private_repository_or_from_other_registries(
    node, mallory, alice
):
    client = client_of(mallory)
    for image in ("alice/secret", "127.0.0.1:8000/alice/secret", "acme/app"):
        response = client.post(f"{API}/images/create?fromImage={image}&tag=1")
        assert response.status_code == 403, image
        assert "pull access denied" in message(response)
    response = client.post(f"{API}/images/create?fromImage=registry.example.com/x/y&tag=1")
    assert response.status_code == 403
    assert "only administrators" in message(response)


def test_system_df_and_the_bridge_show_mallory_only_her_own(node, base, secret, alice, mallory):
    alices = container_of(alice, "alices-db", secret)
    hers = container_of(mallory, "mallorys-web", base)
    bridge = Network.objects.create(
        id="b" * 64, name="bridge", node=node, builtin=True, created=timezone.now()
    )
    for position, c in enumerate((alices, hers)):
        NetworkAttachment.objects.create(
            container=c, network=bridge, ip=f"172.17.0.{position + 2}", prefixlen=16
        )
    client = client_of(mallory)
    usage = client.get(f"{API}/system/df").json()
    assert [c["Names"] for c in usage["Containers"]] == [["/mallorys-web"]]
    assert [i["Id"] for i in usage["Images"]] == [base]
    assert usage["BuildCache"] == []
    inspected = client.get(f"{API}/networks/bridge").json()
    assert list(inspected["Containers"]) == [hers.id]
    assert [n["Containers"] for n in client.get(f"{API}/networks").json()] == [
        {hers.id: inspected["Containers"][hers.id]}
    ]
    info = client.get(f"{API}/info").json()
    assert (info["Containers"], info["Images"]) == (1, 1)
    # The administrator still sees the whole node.
    root = User.objects.create_superuser("root")
    admin = client_of(root, ("admin",))
    assert len(admin.get(f"{API}/system/df").json()["Containers"]) == 2
    assert len(admin.get(f"{API}/networks/bridge").json()["Containers"]) == 2


# --- what users may do with their own and their team's images ----------------------------------


def test_mallory_names_removes_and_lists_her_own_images(node, base, mallory):
    client = client_of(mallory)
    assert client.post(f"{API}/images/busybox/tag?repo=mallory/tools&tag=1").status_code == 201
    assert (
        client.post(f"{API}/images/busybox/tag?repo=127.0.0.1:8000/mallory/tools&tag=1")
    ).status_code == 201
    listed = {t for i in client.get(f"{API}/images/json").json() for t in i["RepoTags"]}
    assert listed == {"busybox:latest", "mallory/tools:1", "127.0.0.1:8000/mallory/tools:1"}
    response = client.delete(f"{API}/images/mallory/tools:1")
    assert response.json() == [{"Untagged": "mallory/tools:1"}]
    assert store_target("busybox:latest") == base


def test_bob_uses_and_extends_the_teams_image_and_charlie_sees_none_of_it(
    node, base, alice, bob, charlie, acme
):
    team_image = add_image("acme's app", "acme/app:1")
    bobs = client_of(bob)
    assert bobs.get(f"{API}/images/acme/app:1/json").json()["Id"] == team_image
    assert bobs.post(f"{API}/images/acme/app:1/tag?repo=acme/app&tag=2").status_code == 201
    assert store_target("acme/app:2") == team_image
    charlies = client_of(charlie)
    for ref in ("acme/app:1", "acme/app:2", team_image):
        assert charlies.get(f"{API}/images/{ref}/json").status_code == 404
    assert charlies.post(f"{API}/images/busybox/tag?repo=acme/app&tag=1").status_code == 403
    assert [i["Id"] for i in charlies.get(f"{API}/images/json").json()] == [base]
    assert store_target("acme/app:1") == team_image


def test_a_read_member_uses_the_teams_image_but_cannot_change_it(node, base, alice, charlie):
    team = do_create_team("acme", alice)
    do_add_member(team, charlie, "read")
    team_image = add_image("acme's app", "acme/app:1")
    client = client_of(charlie)
    assert client.get(f"{API}/images/acme/app:1/json").json()["Id"] == team_image
    assert client.post(f"{API}/images/busybox/tag?repo=acme/app&tag=1").status_code == 403
    response = client.delete(f"{API}/images/acme/app:1")
    assert response.status_code == 403
    assert store_target("acme/app:1") == team_image


def test_removing_her_name_leaves_content_others_still_name(node, base, alice, mallory):
    shared_content = add_image("same bytes", "alice/app:1", "mallory/app:1")
    client = client_of(mallory)
    assert client.delete(f"{API}/images/{shared_content}?force=1").json() == [
        {"Untagged": "mallory/app:1"},
        {"Deleted": shared_content},
    ]
    assert store_target("alice/app:1") == shared_content
    assert client.get(f"{API}/images/{shared_content}/json").status_code == 404


def test_a_pull_of_alices_public_repository_shows_mallory_that_name_while_it_holds_it(
    node, alice, mallory
):
    from accounts.actors import actor_for
    from engine.services.distribution import _claim_pulled, authorize_pull
    from engine.services.images import ImageView
    from registry_app.models import Namespace, Repository

    namespace = Namespace.objects.create(name="alice", owner=alice)
    Repository.objects.create(namespace=namespace, name="alice/tool", visibility="public")
    as_mallory = actor_for(mallory)
    # What the registry lets her pull she may pull; she holds the name it lands under.
    assert authorize_pull(as_mallory, "alice/tool:1") == "alice/tool:1"
    pulled = add_image("alice's published tool", "alice/tool:1")
    _claim_pulled(as_mallory, node, pulled, "alice/tool:1")
    client = client_of(mallory)
    assert client.get(f"{API}/images/alice/tool:1/json").json()["Id"] == pulled
    # alice builds a new alice/tool:1 on the node: that one is hers alone.
    rebuilt = add_image("alice's unpushed work", "alice/tool:1")
    assert client.get(f"{API}/images/alice/tool:1/json").status_code == 404
    assert client.get(f"{API}/images/{rebuilt}/json").status_code == 404
    assert ImageView(as_mallory, node).resolve(pulled).tags == []
