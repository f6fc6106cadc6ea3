"""Errors the account services raise; `str(err)` is a message fit to show a user."""


class AccountError(Exception):
    pass


class InvalidName(AccountError):
    """A team or token name breaks the naming rules (400)."""


class NameTaken(AccountError):
    """The name already belongs to a team, a user or a reserved namespace (409)."""


class InvalidScope(AccountError):
    """An access token scope other than read, write or admin (400)."""
