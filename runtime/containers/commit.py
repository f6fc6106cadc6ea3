"""`docker commit` of a container: its upperdir, read while its processes are frozen.

Docker pauses a running container for the commit unless told `pause=false`, so the layer is
one moment of the filesystem rather than files caught half-written, and so the container
cannot rename paths around the walk while it runs (the walk itself never follows them
either: see runtime/layers/export.py). The container is resumed whatever the commit did.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from runtime.containers import lifecycle
from runtime.containers.state import Status, load_state
from runtime.errors import Conflict
from runtime.images.commit import commit
from runtime.images.model import Image
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths


@contextmanager
def paused(paths: RuntimePaths, cid: str, pause: bool = True) -> Iterator[bool]:
    """Freeze a running container for the block; yields whether it was frozen here.

    A container already paused by its owner stays paused, and one that is not running is
    left alone, as Docker does.
    """
    frozen_here = False
    if pause and lifecycle.refresh(paths, cid).status == Status.running:
        try:
            lifecycle.pause(paths, cid)
            frozen_here = True
        except Conflict:
            # It stopped between the look and the pause: nothing runs to freeze.
            frozen_here = False
    try:
        yield frozen_here
    finally:
        if frozen_here:
            _resume(paths, cid)


def _resume(paths: RuntimePaths, cid: str) -> None:
    try:
        lifecycle.unpause(paths, cid)
    except Conflict:
        # It was killed or stopped while frozen (kill and stop thaw it themselves).
        if load_state(paths, cid).status == Status.paused:
            raise


def commit_container(
    paths: RuntimePaths, cid: str, image_id: str, *, pause: bool = True, **options
) -> Image:
    """New image = the container's image + its upperdir as one more layer.

    `options` are those of runtime.images.commit.commit (config_overrides, comment, author,
    created_by, tags).
    """
    store = ImageStore(paths)
    parent = store.get(image_id)
    with paused(paths, cid, pause):
        return commit(store, parent, paths.container(cid) / "upper", **options)
