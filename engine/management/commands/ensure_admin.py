import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


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
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        shown = password if "DJANGO_SUPERUSER_PASSWORD" not in os.environ else "(from environment)"
        self.stdout.write(f"created admin user {username!r} with password {shown}")
