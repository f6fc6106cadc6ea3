"""A build sees only the images it is given, and its cached steps are its scope's own.

The node's store holds every user's images and one build cache; the engine passes a user's
build the image ids they may see and a cache scope of their own
(engine/services/build.py). Metadata-only steps need no container, so these run anywhere.
"""

import io
import tarfile
from pathlib import Path

import pytest

from runtime.build.builder import Builder, BuildFailure, BuildOptions
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths


def _layer(marker: str) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker.encode()))
    out.seek(0)
    return out


@pytest.fixture
def store(runtime_paths: RuntimePaths) -> ImageStore:
    return ImageStore(runtime_paths)


def build(paths: RuntimePaths, tmp_path: Path, dockerfile: str, **options) -> list[str]:
    context = tmp_path / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    builder = Builder(paths, context, BuildOptions(**options))
    return [m.get("stream", "") for m in builder.run()]


def test_from_an_image_the_build_may_not_see_reads_as_missing(store, tmp_path):
    secret = store.add_image([_layer("alice's")], {"config": {}}, ["alice/secret:1"])
    base = store.add_image([_layer("base")], {"config": {}}, ["busybox:latest"])
    with pytest.raises(BuildFailure, match="no such image on this node"):
        build(store.paths, tmp_path, "FROM alice/secret:1\n", visible_images=[base.id])
    with pytest.raises(BuildFailure, match="no such stage or image"):
        build(
            store.paths,
            tmp_path,
            "FROM busybox\nCOPY --from=alice/secret:1 /marker /\n",
            visible_images=[base.id],
        )
    # By its id, too; and the image stays as it was.
    with pytest.raises(BuildFailure, match="no such image on this node"):
        build(store.paths, tmp_path, f"FROM {secret.id}\n", visible_images=[base.id])
    lines = build(store.paths, tmp_path, "FROM busybox\nLABEL a=b\n", visible_images=[base.id])
    assert any(line.startswith("Successfully built") for line in lines)


def test_a_cached_step_of_another_scope_is_neither_used_nor_revealed(store, tmp_path):
    store.add_image([_layer("base")], {"config": {}}, ["busybox:latest"])
    dockerfile = "FROM busybox\nLABEL secret=alices\n"
    assert not any("Using cache" in x for x in build(store.paths, tmp_path, dockerfile))
    assert any("Using cache" in x for x in build(store.paths, tmp_path, dockerfile))
    mallory = build(store.paths, tmp_path, dockerfile, cache_scope="user-2")
    assert not any("Using cache" in line for line in mallory)
    again = build(store.paths, tmp_path, dockerfile, cache_scope="user-2")
    assert any("Using cache" in line for line in again)
