"""Which token scope each Engine API route needs.

GET and HEAD read (logs, stats, inspect, export and events among them) and need `read`;
every other method changes something and needs `write`: create, start, stop, kill, rm,
attach, exec, build, pull, push, load, tag, commit, and the rest. The exceptions are listed
here by route name (engine/urls.py) and method, so the whole map is reviewed in one place;
tests/engine/api/test_scopes.py walks every route and holds this table to account.
"""

from accounts.actors import ADMIN, READ, WRITE

_DEFAULT = {"GET": READ, "HEAD": READ}

EXCEPTIONS: dict[tuple[str, str], str] = {
    # `docker login` asks the engine to check credentials against a registry; nothing here
    # changes.
    ("engine-auth", "POST"): READ,
    # Waits for a container to stop and reports its exit code; it stops nothing.
    ("engine-container-wait", "POST"): READ,
    # Node-wide clean-ups of what every user's containers and builds share.
    ("engine-image-prune", "POST"): ADMIN,
    ("engine-build-prune", "POST"): ADMIN,
    # Draining or relabelling a node changes where everyone's containers go.
    ("engine-node-update", "POST"): ADMIN,
}


def required_scope(route: str | None, method: str) -> str:
    """The scope a request to the route named `route` with `method` needs."""
    return EXCEPTIONS.get((route or "", method), _DEFAULT.get(method, WRITE))
