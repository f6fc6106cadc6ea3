"""The daemons a bench compares: Dockyard, and a real Docker daemon when one is at hand."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.docker_peer import docker_peer
from dockyard.ephemeral import ephemeral_platform


@contextlib.contextmanager
def compared_daemons(tag: str, start_peer: bool) -> Iterator[tuple[str, str | None]]:
    """(Dockyard's DOCKER_HOST, Docker's or None) while the bench runs.

    Without DOCKER_HOST a private platform is started in a temporary root (`tag` names its
    directories; its run directory stays short for socket paths). PEER_DOCKER_HOST names
    the Docker daemon; without it, `start_peer` starts a private one (`bench.docker_peer`).
    """
    with contextlib.ExitStack() as stack:
        host = os.environ.get("DOCKER_HOST")
        if not host:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"dockyard-{tag}-"))
            run = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"dy{tag}", dir="/tmp"))
            platform = ephemeral_platform(Path(root) / "p", Path(run) / "p")
            host = stack.enter_context(platform).docker_host
        peer = os.environ.get("PEER_DOCKER_HOST")
        if not peer and start_peer:
            peer = stack.enter_context(docker_peer(image_source=host))
        yield host, peer
