"""Pages as alice (owner), bob (teammate) and charlie (outsider) see them, without a node."""

import html

import pytest
from django.utils import timezone

from engine.models import Container, Node
from tests.conftest import PASSWORD
from webui.models import AuditEntry


def make_container(owner, name="web1", status="exited") -> Container:
    node, _ = Node.objects.get_or_create(name="n1")
    return Container.objects.create(
        id=name.ljust(64, "0"),
        name=name,
        node=node,
        owner=owner,
        image_id="sha256:" + "1" * 64,
        image_ref="busybox:latest",
        config={"Cmd": ["sh"]},
        host_config={"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
        status=status,
        created=timezone.now(),
    )


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_it_sends_strangers_to_the_sign_in_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_it_lists_team_containers_to_bob_and_none_to_charlie(client, alice, acme, charlie):
    c = make_container(alice)
    assert "web1" in login(client, alice).get("/").content.decode()
    assert "8080-&gt;80/tcp" in client.get("/").content.decode()
    bob = acme.memberships.get(role="write").user
    assert "web1" in login(client, bob).get("/").content.decode()
    assert login(client, bob).get(f"/ui/containers/{c.id}/").status_code == 200
    assert "web1" not in login(client, charlie).get("/").content.decode()
    assert client.get(f"/ui/containers/{c.id}/").status_code == 404
    assert client.get(f"/ui/containers/{c.id}/logs/").status_code == 404
    assert client.get("/ui/containers.json").json() == {"containers": []}
    assert client.post(f"/ui/containers/{c.id}/do/remove/").status_code == 404


@pytest.mark.django_db
def test_it_filters_containers_by_state_and_name(client, alice):
    make_container(alice, "web1", "exited")
    make_container(alice, "db1", "created")
    login(client, alice)

    def names(q):
        return [r["name"] for r in client.get(f"/ui/containers.json?{q}").json()["containers"]]

    assert sorted(names("")) == ["db1", "web1"]
    assert names("state=created") == ["db1"]
    assert names("q=web") == ["web1"]


@pytest.mark.django_db
def test_it_shows_a_new_token_with_the_docker_config_snippet(client, alice):
    login(client, alice)
    response = client.post("/ui/account/tokens/", {"name": "laptop", "scopes": ["read", "write"]})
    page = html.unescape(response.content.decode())
    assert '"HttpHeaders"' in page
    assert "Authorization" in page and "Bearer dyp_" in page
    assert "export DOCKER_HOST=tcp://testserver" in page
    assert AuditEntry.objects.filter(action="token.create", username="alice").exists()


@pytest.mark.django_db
def test_it_lets_a_team_admin_invite_members_and_others_not(client, alice, acme, charlie):
    login(client, alice).post("/ui/teams/acme/", {"username": "charlie", "role": "read"})
    assert acme.invitations.filter(user=charlie, role="read").exists()
    assert not acme.memberships.filter(user=charlie).exists()
    bob = acme.memberships.get(role="write").user
    response = login(client, bob).post("/ui/teams/acme/", {"username": "bob", "role": "admin"})
    assert response.status_code == 404
    assert acme.memberships.get(user=bob).role == "write"


@pytest.mark.django_db
def test_it_records_sign_ins_and_runs_in_the_audit_log(client, alice):
    login(client, alice)
    make_container(alice)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"login", "container.run"} <= actions


@pytest.mark.django_db
def test_it_shows_every_page_to_a_signed_in_user(client, alice):
    login(client, alice)
    for path in ["/", "/ui/containers/run/", "/ui/images/", "/ui/registry/", "/ui/teams/",
                 "/ui/account/tokens/", "/ui/account/password/"]:  # fmt: skip
        assert client.get(path).status_code == 200, path


@pytest.mark.django_db
def test_it_shows_a_health_badge_and_the_last_probes(client, alice):
    c = make_container(alice, "api", "running")
    c.config = {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD-SHELL", "false"]}}
    probe = {"Start": "2026-12-05T05:00:00.1Z", "End": "2026-12-05T05:00:00.2Z"}
    c.health = {
        "Status": "unhealthy",
        "FailingStreak": 3,
        "Log": [{**probe, "ExitCode": 1, "Output": f"probe {n} failed"} for n in range(3)],
    }
    c.save()
    login(client, alice)
    listing = client.get("/").content.decode()
    assert '<span class="health unhealthy">unhealthy</span>' in listing
    detail = client.get(f"/ui/containers/{c.id}/").content.decode()
    assert 'id="health">unhealthy' in detail
    assert "3 failing in a row" in detail
    assert detail.index("probe 2 failed") < detail.index("probe 0 failed")
