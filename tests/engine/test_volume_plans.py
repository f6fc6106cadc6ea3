"""How a create request's -v, --mount, --tmpfs and VOLUME become a container's mounts."""

import pytest

from engine.errors import BadRequest
from engine.services.access import Actor
from engine.services.volumes import plan_mounts

ADMIN = Actor(user=None, admin=True)


def no_containers(actor, ref):
    raise AssertionError("not asked")


def plan(host: dict, volumes: dict | None = None):
    return plan_mounts(ADMIN, None, host, volumes, no_containers)


def test_named_anonymous_and_host_binds_are_told_apart():
    p = plan({"Binds": ["data:/data:ro,nocopy", "/srv:/srv"]}, {"/cache": {}, "/data": {}})
    kinds = [(m["Type"], m["Destination"], m["RW"]) for m in p.shown]
    assert kinds == [("volume", "/data", False), ("bind", "/srv", True), ("volume", "/cache", True)]
    assert p.binds == ["/srv:/srv"]
    named, anon = p.runtime
    assert named == {"volume": "data", "destination": "/data", "readonly": True, "copy_up": False}
    assert len(anon["volume"]) == 64 and anon["copy_up"] is True
    assert [v[2] for v in p.volumes] == [False, True]


def test_mount_entries_for_volume_bind_and_tmpfs():
    p = plan(
        {
            "Mounts": [
                {
                    "Type": "volume",
                    "Source": "vol",
                    "Target": "/v",
                    "VolumeOptions": {"NoCopy": True},
                },
                {"Type": "bind", "Source": "/srv/", "Target": "/b", "ReadOnly": True},
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}},
            ]
        }
    )
    assert p.runtime[0]["copy_up"] is False
    assert p.runtime[1] == {"source": "/srv", "destination": "/b", "readonly": True}
    assert p.tmpfs == {"/t": "size=1024,mode=700"}


@pytest.mark.parametrize(
    "host",
    [
        {"Binds": ["data:relative"]},
        {"Binds": ["a:/x", "b:/x"]},
        {"Binds": ["../up:/x"]},
        {"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/x"}]},
        {"Mounts": [{"Type": "npipe", "Target": "/x"}]},
        {"Tmpfs": {"/": ""}},
    ],
)
def test_what_docker_refuses_is_refused(host):
    with pytest.raises(BadRequest):
        plan(host)
