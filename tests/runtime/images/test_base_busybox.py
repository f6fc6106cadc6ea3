import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runtime.images.base import build_busybox
from runtime.images.store import ImageStore

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer unpacking)"),
]


def test_it_builds_busybox_with_an_applet_symlink_for_sh(runtime_paths):
    store = ImageStore(runtime_paths)

    image = build_busybox(store)

    assert image.tags == ["busybox:latest"]
    assert image.config["config"]["Cmd"] == ["sh"]
    assert image.config["config"]["Env"][0].startswith("PATH=")
    (root,) = store.snapshots.dirs(image)
    assert os.readlink(root / "bin/sh") == "busybox"
    assert os.readlink(root / "usr/bin/awk") == "../../bin/busybox"
    assert (root / "bin/busybox").read_bytes() == Path("/bin/busybox").read_bytes()
    assert "root:x:0:0:" in (root / "etc/passwd").read_text()
    assert oct((root / "tmp").stat().st_mode & 0o7777) == "0o1777"
    for empty in ("dev", "proc", "sys", "root", "home", "var"):
        assert (root / empty).is_dir()
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True)
    assert all(os.path.lexists(root / a) for a in applets.stdout.split())


def test_rebuilding_busybox_gives_the_same_image(runtime_paths):
    first = build_busybox(ImageStore(runtime_paths))
    shutil.rmtree(runtime_paths.root)

    second = build_busybox(ImageStore(runtime_paths.ensure()))

    assert second.id == first.id
    assert second.manifest_digest == first.manifest_digest


def test_busybox_runs_inside_its_snapshot(runtime_paths):
    store = ImageStore(runtime_paths)
    (root,) = store.snapshots.dirs(build_busybox(store))

    done = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-c", "echo hi from $(basename $0)"],
        capture_output=True,
        text=True,
    )

    assert done.stdout == "hi from sh\n"
