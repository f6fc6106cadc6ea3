"""How a Celery task wraps a runtime call: the engine's only door into `runtime/` on a node.

Each task takes JSON arguments and answers `{"ok": value}` or `{"error": {"kind", "message"}}`,
so a runtime error reaches the API with its meaning intact (see engine.nodes.run_on_node).
"""

import functools
from typing import Any

from celery import shared_task
from django.conf import settings

from runtime.errors import RuntimeFailure
from runtime.paths import RuntimePaths


def node_paths() -> RuntimePaths:
    return RuntimePaths(root=settings.DOCKYARD_ROOT, run=settings.DOCKYARD_RUN_DIR).ensure()


def runtime_task(fn):
    @functools.wraps(fn)
    def run(*args: Any) -> dict:
        try:
            return {"ok": fn(node_paths(), *args)}
        except RuntimeFailure as e:
            return {"error": {"kind": type(e).__name__, "message": str(e)}}

    return shared_task(name=f"engine.{fn.__name__}")(run)
