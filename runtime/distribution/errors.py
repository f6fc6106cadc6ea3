"""What can go wrong talking to a registry, in words fit for the person who asked."""

from runtime.errors import RuntimeFailure


class RegistryFailure(RuntimeFailure):
    """The registry answered with an error, or not at all."""


class AuthenticationFailed(RegistryFailure):
    """The registry refused the credentials themselves (wrong user name or password)."""


class AccessDenied(RegistryFailure):
    """The credentials are fine, but they do not allow this repository or action."""


class RegistryUnreachable(RegistryFailure):
    """No answer from the registry, or the connection broke too often."""
