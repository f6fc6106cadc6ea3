"""Errors the account services raise; `str(err)` is a message fit to show a user."""


class AccountError(Exception):
    pass


class InvalidName(AccountError):
    """A team or token name breaks the naming rules (400)."""


class NameTaken(AccountError):
    """The name already belongs to a team, a user or a reserved namespace (409)."""


class InvalidScope(AccountError):
    """An access token scope other than read, write or admin (400)."""


class MissingScope(AccountError):
    """The credential's token scopes do not cover what was asked (403)."""


class NotAllowed(AccountError):
    """The actor may not do this to a team or an invitation (403, or 404 where hiding)."""


class TooManyAttempts(AccountError):
    """Too many failed sign-ins for a user name or from an address (429)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(AccountError):
    """No such team, user or invitation that the actor may see (404)."""
