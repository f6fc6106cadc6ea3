import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import do_create_token, do_revoke_token
from engine import tasks
from engine.errors import ApiError
from engine.nodes import local_node, run_on_node
from engine.services.images import sync_images

BASE_IMAGES = ["busybox:latest", "debian:bookworm"]


class Command(BaseCommand):
    help = (
        "Push this node's base images (busybox, debian) into library/ of the platform's "
        "registry, as the admin. The web process must be running."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", default=BASE_IMAGES)

    def handle(self, *args, names, **options):
        # The transfer runs here, on this node: no worker needed, only the registry.
        settings.CELERY_TASK_ALWAYS_EAGER = True
        node = local_node()
        sync_images(node)
        present = {t for image in node.images.all() for t in image.tags}
        admin = self._admin()
        # A short-lived token: the admin's password is not known here, and is not needed.
        # Writing library/ is an administrator's power, which only the admin scope carries.
        token, secret = do_create_token(admin, "publish_base_images", ["write", "admin"])
        auth = {"username": admin.get_username(), "password": secret}
        try:
            for name in names:
                if name not in present:
                    self.stdout.write(f"{name}: not on this node, skipped")
                    continue
                try:
                    answer = run_on_node(node, tasks.push_image, name, name, auth, None)
                except ApiError as e:
                    raise CommandError(
                        f"cannot push {name} to {settings.DOCKYARD_REGISTRY}: {e.message}\n"
                        "The platform's web process serves the registry: start the platform "
                        "(make up) before publishing."
                    ) from None
                self.stdout.write(
                    f"{name}: pushed to {settings.DOCKYARD_REGISTRY}/library as {answer['digest']}"
                )
        finally:
            do_revoke_token(token)

    def _admin(self):
        users = get_user_model().objects.filter(is_superuser=True, is_active=True)
        wanted = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        admin = users.filter(username=wanted).first() or users.order_by("pk").first()
        if admin is None:
            raise CommandError("no administrator account: run `manage.py ensure_admin` first")
        return admin
