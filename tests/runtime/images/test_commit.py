import io
import os

import pytest

from runtime.images.commit import commit
from runtime.images.store import ImageStore
from tests.runtime.layers.tars import make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer unpacking)")


def test_commit_adds_the_upperdir_as_a_new_top_layer(runtime_paths, tmp_path):
    store = ImageStore(runtime_paths)
    parent = store.add_image(
        [io.BytesIO(make_tar({"name": "etc/motd", "data": b"base"}))],
        {"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}},
        tags=["base"],
    )
    upper = tmp_path / "upper"
    (upper / "srv").mkdir(parents=True)
    (upper / "srv/hello.txt").write_text("hello from the container\n")

    image = commit(
        store,
        parent,
        upper,
        config_overrides={"Cmd": ["cat", "/srv/hello.txt"]},
        comment="first commit",
        author="alice",
        created_by="/bin/sh -c echo hello > /srv/hello.txt",
        tags=["alice/hello:v1"],
    )

    assert image.id != parent.id
    assert store.get("alice/hello:v1").id == image.id
    assert [x.digest for x in image.layers[:1]] == [x.digest for x in parent.layers]
    assert image.config["config"] == {"Cmd": ["cat", "/srv/hello.txt"], "Env": ["PATH=/bin"]}
    assert image.config["author"] == "alice"
    top, base = store.snapshots.dirs(image)
    assert (top / "srv/hello.txt").read_text() == "hello from the container\n"
    assert (base / "etc/motd").read_text() == "base"
    newest = store.history(image)[0]
    assert newest["Comment"] == "first commit"
    assert newest["CreatedBy"] == "/bin/sh -c echo hello > /srv/hello.txt"
    assert newest["Size"] == image.layers[-1].unpacked_size
    assert list(runtime_paths.tmp.iterdir()) == []
