from django.conf import settings
from django.core.management.base import BaseCommand

from engine import tasks
from engine.nodes import local_node, run_on_node
from engine.services.images import sync_images

BASE_IMAGES = ["busybox:latest", "debian:bookworm"]


class Command(BaseCommand):
    help = "Build the base images this node lacks (busybox, debian) and record them."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", default=BASE_IMAGES)

    def handle(self, *args, names, **options):
        # Setup runs before the node's worker: run the tasks here, on this node.
        settings.CELERY_TASK_ALWAYS_EAGER = True
        node = local_node()
        built = run_on_node(node, tasks.import_base_images, names, timeout=3600)
        sync_images(node)
        for name in names:
            self.stdout.write(f"{name}: {'built' if name in built else 'present'}")
