"""mallory, with a write token over TCP, asks for containers that reach into the host.

And root, the site's administrator, uses a token without the admin scope (one made for a
CI job, say): it reaches no further into the host than mallory's.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import do_create_token

pytestmark = pytest.mark.django_db

HOST_REACHING = [
    ({"Binds": ["/:/host"]}, "host bind mounts"),
    ({"Binds": ["/etc/shadow:/shadow:ro"]}, "host bind mounts"),
    ({"CapAdd": ["SYS_ADMIN"]}, "added capabilities and devices"),
    ({"Devices": [{"PathOnHost": "/dev/sda"}]}, "added capabilities and devices"),
    ({"PidMode": "host"}, "PidMode=host"),
    ({"IpcMode": "host"}, "IpcMode=host"),
    ({"UTSMode": "host"}, "UTSMode=host"),
    ({"NetworkMode": "host"}, "NetworkMode=host"),
    ({"Privileged": True}, "privileged containers"),
    ({"SecurityOpt": ["seccomp=unconfined"]}, "seccomp=unconfined"),
    # What `docker run --security-opt seccomp=profile.json` sends: the profile's JSON.
    ({"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']}, "custom seccomp profiles"),
    # A fork bomb must meet the platform's default pids limit (4096 in tests).
    ({"PidsLimit": -1}, "unlimited pids limit"),
    ({"PidsLimit": 4097}, "pids limit above 4096"),
]


def create(user, scopes: list[str], host_config: dict):
    _, secret = do_create_token(user, "cli", scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/v1.47/containers/create",
        {"Image": "busybox", "HostConfig": host_config},
        content_type="application/json",
    )


@pytest.mark.parametrize(("host_config", "message"), HOST_REACHING)
def test_a_user_cannot_reach_into_the_host(host_config, message):
    mallory = User.objects.create_user("mallory")
    response = create(mallory, ["read", "write", "admin"], host_config)
    assert response.status_code == 403
    assert message in response.json()["message"]


@pytest.mark.parametrize(("host_config", "message"), HOST_REACHING)
def test_an_administrators_token_without_the_admin_scope_cannot_either(host_config, message):
    root = User.objects.create_superuser("root")
    response = create(root, ["read", "write"], host_config)
    assert response.status_code == 403
    assert message in response.json()["message"]


@pytest.mark.parametrize(
    "host_config",
    [
        {"PidMode": "host"},
        {"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']},
        {"PidsLimit": -1},
    ],
)
def test_an_administrators_admin_token_may(host_config):
    root = User.objects.create_superuser("root")
    response = create(root, ["admin"], host_config)
    # Past the checks; this test node has no busybox to create it from.
    assert response.status_code == 404, response.content
    assert "No such image" in response.json()["message"]


def test_a_user_may_ask_for_a_lower_pids_limit():
    mallory = User.objects.create_user("mallory")
    response = create(mallory, ["read", "write"], {"PidsLimit": 64})
    assert response.status_code == 404, response.content
