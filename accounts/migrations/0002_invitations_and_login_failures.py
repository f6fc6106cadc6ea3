"""Team invitations and sign-in failures.

Memberships made before invitations existed were made without the member's consent, and a
membership lets teammates control each other's containers. So every membership but the
first of each team (its creator's) becomes an invitation with the same role, which its user
accepts or declines on the teams page; until then it grants nothing.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def memberships_to_invitations(apps, schema_editor):
    Membership = apps.get_model("accounts", "Membership")
    Invitation = apps.get_model("accounts", "Invitation")
    creators = {}
    for membership in Membership.objects.order_by("created", "pk"):
        creators.setdefault(membership.team_id, membership.pk)
    for membership in Membership.objects.exclude(pk__in=creators.values()):
        Invitation.objects.create(
            team_id=membership.team_id,
            user_id=membership.user_id,
            role=membership.role,
            created=membership.created,
        )
        membership.delete()


def invitations_to_memberships(apps, schema_editor):
    Membership = apps.get_model("accounts", "Membership")
    Invitation = apps.get_model("accounts", "Invitation")
    for invitation in Invitation.objects.all():
        Membership.objects.get_or_create(
            team_id=invitation.team_id,
            user_id=invitation.user_id,
            defaults={"role": invitation.role, "created": invitation.created},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginFailure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("username", models.CharField(max_length=150)),
                ("address", models.CharField(blank=True, max_length=64)),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["username", "at"], name="loginfailure_user_at"),
                    models.Index(fields=["address", "at"], name="loginfailure_address_at"),
                    models.Index(fields=["at"], name="loginfailure_at"),
                ],
            },
        ),
        migrations.CreateModel(
            name="Invitation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[("read", "Read"), ("write", "Write"), ("admin", "Admin")],
                        max_length=8,
                    ),
                ),
                ("created", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "invited_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="accounts.team",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="team_invitations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("team", "user"), name="one_invitation_per_team")
                ],
            },
        ),
        migrations.RunPython(memberships_to_invitations, invitations_to_memberships),
    ]
