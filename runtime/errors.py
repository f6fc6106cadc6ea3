"""Errors the runtime raises; each maps to one Docker-style status in the engine."""


class RuntimeFailure(Exception):
    """Base class; `str(err)` is a message fit to show a user."""


class NotFound(RuntimeFailure):
    """No such container, image, blob, layer or path (404)."""


class Conflict(RuntimeFailure):
    """The object is in a state that forbids the operation (409)."""


class InvalidInput(RuntimeFailure):
    """The request or an uploaded archive is malformed or hostile (400)."""


class DigestMismatch(InvalidInput):
    """Content did not hash to the digest it claimed."""


class Forbidden(RuntimeFailure):
    """The caller may not have it: it reaches what the node keeps for itself (403)."""
