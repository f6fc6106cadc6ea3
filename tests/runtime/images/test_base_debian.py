import os

import pytest

from runtime.images.base import build_debian
from runtime.images.store import ImageStore


@pytest.mark.slow
@pytest.mark.privileged
def test_it_builds_debian_bookworm_with_working_apt_sources(runtime_paths):
    store = ImageStore(runtime_paths)

    image = build_debian(store)

    assert image.tags == ["debian:bookworm", "debian:latest"]
    assert image.config["config"]["Cmd"] == ["bash"]
    root = store.snapshots.dirs(image)[0]
    assert (root / "usr/bin/bash").is_file()
    assert (root / "usr/bin/apt-get").is_file()
    assert not any((root / "var/lib/apt/lists").glob("*_Packages"))
    sources = list((root / "etc/apt/sources.list.d").glob("*.sources"))
    sources += [root / "etc/apt/sources.list"] if (root / "etc/apt/sources.list").exists() else []
    assert any("deb.debian.org" in p.read_text() or "debian" in p.read_text() for p in sources)
    assert os.listdir(root / "dev") == []
    assert store.get("debian").id == image.id
