"""What a build carries from step to step: its options, the state each step turns into the
next one, and how a step fails."""

import copy
from dataclasses import dataclass, field

from runtime.errors import RuntimeFailure
from runtime.images.model import LayerInfo
from runtime.images.oci import canonical_json
from runtime.store.blobs import sha256_digest

DEFAULT_SHELL = ["/bin/sh", "-c"]
# `docker build --network`: Docker's classic builder runs RUN on the default bridge.
NETWORK_MODES = ("bridge", "none", "host")


class BuildFailure(RuntimeFailure):
    """A step failed; the message names the step as Docker does."""


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    # Image ids FROM and COPY --from may use; None for any image of the node. A platform
    # with several users passes what the building user may see, since the store holds
    # every user's images and names resolve across all of them.
    visible_images: list[str] | None = None
    # Keeps cached steps apart per scope (a user, say): a step another scope ran is neither
    # reused nor revealed by a cache hit. "" is the scope the cache had before scopes.
    cache_scope: str = ""
    # One of NETWORK_MODES: where RUN steps' containers are plugged in. Who may ask for
    # "host" is for the caller to decide.
    network: str = "bridge"


@dataclass
class BuildState:
    config: dict
    layers: list[LayerInfo]
    image_id: str
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False

    @property
    def container(self) -> dict:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        values = dict(self.args)
        for item in self.container.get("Env") or []:
            key, _, value = item.partition("=")
            values[key] = value
        return values


def image_id(config: dict) -> str:
    return sha256_digest(canonical_json(config))


def state_from(config: dict, layers: list[LayerInfo]) -> BuildState:
    """A fresh state for `config` on `layers` (the config is copied, its rootfs rewritten)."""
    config = copy.deepcopy(config)
    config["rootfs"] = {"type": "layers", "diff_ids": [x.diff_id for x in layers]}
    return BuildState(config, list(layers), image_id(config))
