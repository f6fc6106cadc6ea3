import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Team


class Namespace(models.Model):
    """The first path component of repository names; belongs to a user, a team, or the platform."""

    name = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(team__isnull=True), name="one_owner_kind"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Repository(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public"
        PRIVATE = "private"

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="repositories")
    # The whole path, e.g. "alice/app": it is what every request names.
    name = models.CharField(max_length=255, unique=True)
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name


class Blob(models.Model):
    digest = models.CharField(max_length=140, unique=True)
    size = models.BigIntegerField()
    media_type = models.CharField(max_length=255, default="application/octet-stream")
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.digest


class RepositoryBlob(models.Model):
    """A blob a repository may serve and its manifests may reference."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="links")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="links")
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "blob"], name="one_link_per_blob")
        ]


class Manifest(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=140)
    media_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content = models.BinaryField()
    blobs = models.ManyToManyField(Blob, related_name="manifests", blank=True)
    subject_digest = models.CharField(max_length=140, blank=True, db_index=True)
    artifact_type = models.CharField(max_length=255, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    pushed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    pushed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="one_manifest_per_digest")
        ]

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}"


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="tags")
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="one_tag_name")]

    def __str__(self) -> str:
        return f"{self.repository}:{self.name}"


class Upload(models.Model):
    """A blob upload in progress; the staged file, not `offset`, is the truth about its length."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="uploads")
    staged_file = models.CharField(max_length=1024)
    offset = models.BigIntegerField(default=0)
    started = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.repository} upload {self.uuid}"
