"""`docker commit`: a container's upperdir becomes a new top layer over its image."""

import copy
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from runtime.images.model import Image
from runtime.images.oci import now_rfc3339
from runtime.images.store import ImageStore
from runtime.layers.export import write_layer


def commit(
    store: ImageStore,
    parent: Image,
    upperdir: Path,
    *,
    config_overrides: dict | None = None,
    comment: str = "",
    author: str = "",
    created_by: str = "",
    tags: Sequence[str] = (),
) -> Image:
    """New image = `parent` + the upperdir as one more layer; `config_overrides` replace
    keys of the container config (Cmd, Env, ...) the way `docker commit --change` does."""
    fd, tmp_name = tempfile.mkstemp(prefix="commit-", suffix=".tar", dir=store.paths.tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            write_layer(upperdir, out)
        layer = store.add_layer(Path(tmp_name))
    finally:
        os.unlink(tmp_name)

    created = now_rfc3339()
    config = copy.deepcopy(parent.config)
    config["created"] = created
    if author:
        config["author"] = author
    config["config"] = {**config.get("config", {}), **(config_overrides or {})}
    entry = {"created": created, "created_by": created_by}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    config["history"] = [*config.get("history", []), entry]
    return store.add_image_from_layers([*parent.layers, layer], config, tags)
