"""The node agent's log rotation: containers with a max-size get their logs rotated."""

import asyncio
import logging

from runtime.containers.logrotate import LogRotator
from runtime.paths import RuntimePaths

from ..tasks.base import node_paths

log = logging.getLogger(__name__)


async def rotate_logs_forever(interval: float = 0.5, paths: RuntimePaths | None = None) -> None:
    """Every `interval` seconds, rotate each container log that reached its max-size.

    The live file can outgrow its max-size by what its container writes in one interval;
    once rotated and finished, such a file is cut to size (`runtime.containers.logtrim`).
    """
    rotator = LogRotator(paths or node_paths())
    while True:
        try:
            await asyncio.to_thread(rotator.rotate_all)
        except Exception:
            # A failed round must not end rotation for every container of the node.
            log.exception("log rotation failed")
        await asyncio.sleep(interval)
