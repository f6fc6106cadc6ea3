"""Swarm routes (swarm.py), each with the methods dockerd's swarm router gives it.

The more specific route of each kind comes first: `services/create` before `services/{id}`.
"""

from . import swarm
from .routes import ID, api

# Nodes are not among them: a cluster's nodes answer /nodes (nodes_urls.py).
_OBJECTS = ("services", "tasks", "secrets", "configs")
# What each kind of swarm object offers beyond listing and inspecting.
_CREATE = ("services", "secrets", "configs")
_UPDATE = ("services", "secrets", "configs")
_REMOVE = ("services", "secrets", "configs")
_LOGS = ("services", "tasks")

urlpatterns = [
    api(r"swarm", swarm.read, "swarm-inspect"),
    api(r"swarm/unlockkey", swarm.read, "swarm-unlockkey"),
    api(r"swarm/leave", swarm.leave, "swarm-leave"),
    *(
        api(rf"swarm/{verb}", swarm.change, f"swarm-{verb}")
        for verb in ("init", "join", "update", "unlock")
    ),
    *(api(rf"{kind}", swarm.read, f"{kind}-list") for kind in _OBJECTS),
    *(api(rf"{kind}/create", swarm.change, f"{kind}-create") for kind in _CREATE),
    *(api(rf"{kind}/{ID}/update", swarm.change, f"{kind}-update") for kind in _UPDATE),
    *(api(rf"{kind}/{ID}/logs", swarm.read, f"{kind}-logs") for kind in _LOGS),
    *(api(rf"{kind}/{ID}", swarm.read_or_remove, f"{kind}-item") for kind in _REMOVE),
    api(rf"tasks/{ID}", swarm.read, "tasks-item"),
]
