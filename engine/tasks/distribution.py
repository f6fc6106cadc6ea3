"""Registry tasks: check a login, pull, push; progress goes out on the channel layer."""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import asdict

from channels.layers import get_channel_layer
from django.conf import settings

from runtime.distribution.auth import Credentials
from runtime.distribution.client import RegistryClient
from runtime.distribution.errors import AuthenticationFailed
from runtime.distribution.names import resolve
from runtime.distribution.progress import Progress, ProgressEvent
from runtime.distribution.pull import pull
from runtime.distribution.push import push
from runtime.distribution.records import DistributionRecords
from runtime.images.store import ImageStore
from runtime.paths import RuntimePaths

from .base import runtime_task

__all__ = ["list_repo_digests", "pull_image", "push_image", "registry_login"]

PROGRESS_EVENT = "progress.event"
PROGRESS_END = "progress.end"
_SEND_TIMEOUT = 5.0


@runtime_task
def registry_login(paths: RuntimePaths, registry: str, auth: dict) -> dict:
    """`{"ok": true}`, or `{"ok": false, "message"}` when the registry refuses the login."""
    try:
        with _client(registry, auth) as client:
            client.login()
    except AuthenticationFailed as e:
        return {"ok": False, "message": str(e)}
    return {"ok": True}


@runtime_task
def pull_image(paths: RuntimePaths, ref: str, auth: dict, group: str | None) -> dict:
    remote = resolve(ref, settings.DOCKYARD_REGISTRY)
    with _progress(group) as progress, _client(remote.registry, auth) as client:
        result = pull(paths, client, remote, progress)
    return {
        "id": result.image.id,
        "digest": result.digest,
        "updated": result.updated,
        "name": remote.local_tag or f"{remote.local_name}@{remote.digest}",
    }


@runtime_task
def push_image(paths: RuntimePaths, image_ref: str, target: str, auth: dict, group) -> dict:
    """Push the local image `image_ref` as `target` (a reference with a tag)."""
    remote = resolve(target, settings.DOCKYARD_REGISTRY)
    with _progress(group) as progress, _client(remote.registry, auth) as client:
        result = push(paths, client, image_ref, remote, progress)
    return {"tag": result.tag, "digest": result.digest, "size": result.size}


@runtime_task
def list_repo_digests(paths: RuntimePaths) -> dict[str, dict[str, str]]:
    """{image id: {repository: digest}} for the images that still exist."""
    records = DistributionRecords(paths)
    known = records.repo_digests()
    images = {i.id for i in ImageStore(paths).list()}
    if set(known) - images:
        records.forget_images(images)
    return {image_id: names for image_id, names in known.items() if image_id in images}


def _client(registry: str, auth: dict) -> RegistryClient:
    credentials = Credentials(auth.get("username", ""), auth.get("password", ""))
    return RegistryClient(registry, credentials, insecure=settings.DOCKYARD_INSECURE_REGISTRIES)


# One event loop per worker process carries every progress message to the channel layer;
# a loop per task would open (and leak) a redis connection per task.
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="progress", daemon=True).start()
        return _loop


def _send(group: str, message: dict) -> None:
    future = asyncio.run_coroutine_threadsafe(
        get_channel_layer().group_send(group, message), _publisher_loop()
    )
    # Progress is advisory: a slow or absent channel layer must not fail the transfer.
    with contextlib.suppress(Exception):
        future.result(timeout=_SEND_TIMEOUT)


@contextlib.contextmanager
def _progress(group: str | None) -> Iterator[Progress]:
    """A progress callback publishing to `group`; the end marker goes out however it ends."""
    if not group:
        yield lambda event: None
        return

    def publish(event: ProgressEvent) -> None:
        _send(group, {"type": PROGRESS_EVENT, "event": asdict(event)})

    try:
        yield publish
    finally:
        _send(group, {"type": PROGRESS_END})
