from django.core.management.base import BaseCommand, CommandError

from engine.errors import ApiError
from engine.services.nodes import do_revoke


class Command(BaseCommand):
    help = "Revoke a joined node's credentials: its database role and Redis user go."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **options):
        try:
            node = do_revoke(options["name"])
        except ApiError as e:
            raise CommandError(e.message) from None
        self.stdout.write(f"node {node.name} revoked; it needs a new join token to come back")
