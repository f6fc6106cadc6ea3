from django.core.management.base import BaseCommand

from engine.services.nodes import JOIN_TOKEN_TTL, control_url, do_issue_join_token, join_command


class Command(BaseCommand):
    help = "Print the one-line command another host runs to join this control plane as a node."

    def add_arguments(self, parser):
        parser.add_argument("--url", help="the control plane's URL as the new host reaches it")

    def handle(self, *args, **options):
        secret = do_issue_join_token()
        self.stdout.write(join_command(options["url"] or control_url(), secret))
        hours = JOIN_TOKEN_TTL.total_seconds() / 3600
        self.stderr.write(f"The token joins one host and expires in {hours:g} h.")
