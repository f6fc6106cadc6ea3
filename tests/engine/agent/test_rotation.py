import asyncio
import time

import pytest

from engine.agent.rotation import rotate_logs_forever
from runtime.containers import layout
from tests.runtime.containers.conftest import containers, lowerdir  # noqa: F401

pytestmark = pytest.mark.privileged


def test_the_agent_rotates_logs_of_containers_that_ask(runtime_paths, containers):  # noqa: F811
    writer = "while true; do seq 1 20000; sleep 0.05; done"
    limited = containers("sh", "-c", writer, start=True, log_max_size=1024 * 1024)
    unlimited = containers("sh", "-c", writer, start=True)

    async def scenario() -> None:
        task = asyncio.create_task(rotate_logs_forever(0.05, runtime_paths))
        rotated = layout.bundle(runtime_paths, limited) / "container.log.1"
        deadline = time.monotonic() + 20
        while not rotated.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(scenario())
    assert (layout.bundle(runtime_paths, limited) / "container.log.1").exists()
    assert not (layout.bundle(runtime_paths, unlimited) / "container.log.1").exists()
