import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from platformkit.files import ADMIN_PASSWORD_FILE


class Command(BaseCommand):
    help = (
        "Create the admin user from DJANGO_SUPERUSER_USERNAME/DJANGO_SUPERUSER_PASSWORD, "
        "or with a generated password that is printed once."
    )

    def handle(self, *args, **options):
        users = get_user_model().objects
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        if users.filter(username=username).exists():
            self.stdout.write(f"admin user {username!r} exists")
            return
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(f"created admin user {username!r} with DJANGO_SUPERUSER_PASSWORD")
            return
        saved = settings.DOCKYARD_ROOT / ADMIN_PASSWORD_FILE
        saved.touch(mode=0o600)
        saved.write_text(password + "\n")
        self.stdout.write(f"created admin user {username!r} with password {password} ({saved})")
