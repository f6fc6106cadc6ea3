"""How many password guesses a user name and a client address get.

Every guess costs the server a PBKDF2 check (about 0.3 s of a core) and an attacker a
request, so without a limit a password falls to patience and the server to load. After
`DOCKYARD_LOGIN_MAX_FAILURES` failed checks of one user name, or
`DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS` from one client address, within
`DOCKYARD_LOGIN_WINDOW` seconds, further password checks for it are refused, without
hashing, until the oldest of those failures leaves the window.

The failures live in the database (see LoginFailure), which every process that checks
passwords shares. Personal access tokens are not limited here: they carry 256 random bits,
cost a fast hash, and keep working while someone else's guesses lock the password out.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .errors import TooManyAttempts
from .models import LoginFailure


def _window() -> timedelta:
    return timedelta(seconds=settings.DOCKYARD_LOGIN_WINDOW)


def _counts(username: str, address: str, since) -> tuple[int, int]:
    # One hand-written query: this runs before every password check, including the
    # registry's, where compiling an ORM aggregate would cost more than answering it.
    table = connection.ops.quote_name(LoginFailure._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(since)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN username = %s THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN address = %s THEN 1 ELSE 0 END), 0) "
            f"FROM {table} WHERE at > %s AND (username = %s OR address = %s)",
            [username, address, at, username, address],
        )
        by_user, by_address = cursor.fetchone()
    return int(by_user), int(by_address) if address else 0


def _retry_after(field: str, value: str, limit: int, since, now) -> int:
    """Seconds until fewer than `limit` failures of `field=value` remain in the window."""
    times = list(
        LoginFailure.objects.filter(**{field: value}, at__gt=since)
        .order_by("-at")
        .values_list("at", flat=True)[: max(limit, 1)]
    )
    if len(times) < limit:
        return 1
    freed = times[limit - 1] + _window()
    return max(1, int((freed - now).total_seconds()) + 1)


def check_allowed(username: str, address: str = "") -> None:
    """Raise TooManyAttempts if a password check for `username` from `address` must wait."""
    username, address = username[:150], address[:64]
    now = timezone.now()
    since = now - _window()
    by_user, by_address = _counts(username, address, since)
    per_user = settings.DOCKYARD_LOGIN_MAX_FAILURES
    per_address = settings.DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS
    waits = []
    if by_user >= per_user:
        waits.append(_retry_after("username", username, per_user, since, now))
    if address and by_address >= per_address:
        waits.append(_retry_after("address", address, per_address, since, now))
    if waits:
        retry_after = max(waits)
        raise TooManyAttempts(
            f"too many failed sign-ins for this user or from this address; "
            f"try again in {retry_after} s",
            retry_after=retry_after,
        )


def record_failure(username: str, address: str = "") -> None:
    username, address = username[:150], address[:64]
    now = timezone.now()
    LoginFailure.objects.filter(at__lte=now - _window()).delete()
    LoginFailure.objects.create(username=username, address=address, at=now)


def forgive(username: str, address: str = "") -> None:
    """After a correct password: that user's own slips from that address no longer count.

    Failures from other addresses stay, so a user signing in does not reset the count of
    someone guessing their password from elsewhere.
    """
    failures = LoginFailure.objects.filter(username=username[:150], address=address[:64])
    if failures.exists():
        failures.delete()
