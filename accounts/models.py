from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# The rule for one path component of a registry repository name, so a team name is always
# usable as the namespace of its repositories.
NAMESPACE_PATTERN = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
namespace_validator = RegexValidator(
    rf"\A{NAMESPACE_PATTERN}\Z",
    "Use lowercase letters and digits, with . _ - between them.",
)


class Team(models.Model):
    name = models.CharField(max_length=64, unique=True, validators=[namespace_validator])
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        READ = "read"
        WRITE = "write"
        ADMIN = "admin"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.READ)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_role_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """An offer of team membership that grants nothing until the invited user accepts it.

    Membership lets teammates control each other's containers and repositories, so nobody
    is made a member without their consent; site administrators add members directly.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_invitations"
    )
    role = models.CharField(max_length=8, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_invitation_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.team} ({self.role})"


class LoginFailure(models.Model):
    """One failed password check, counted per user name and per client address.

    Kept in the database rather than in Redis because every process that checks passwords
    (web, engine gateway) already shares it, on one machine or several, and tests and
    single-node setups need nothing more; a failure costs a PBKDF2 check anyway, so one row
    insert more is cheap. Rows older than the window are deleted as new ones arrive.
    """

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_user_at"),
            models.Index(fields=["address", "at"], name="loginfailure_address_at"),
            models.Index(fields=["at"], name="loginfailure_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address or '-'} at {self.at}"


class AccessToken(models.Model):
    """A personal access token; only a hash of its secret is kept."""

    SCOPES = ("read", "write", "admin")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    # Public part of the raw secret, to find the row without scanning every hash.
    key = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return not self.revoked and (self.expires is None or self.expires > now)
