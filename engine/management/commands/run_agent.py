import uvloop
from django.core.management.base import BaseCommand

from engine.agent.service import Agent, ready_file


class Command(BaseCommand):
    help = "Run this node's agent: stream relay, exit watcher, reconciler."
    # Django's system checks import every URL conf, view and admin module, which the agent
    # never runs but would hold in memory for good; `manage.py migrate` runs them at start.
    requires_system_checks = []

    def handle(self, *args, **options):
        ready_file().unlink(missing_ok=True)
        try:
            uvloop.run(Agent().run())
        except KeyboardInterrupt:
            pass
        finally:
            ready_file().unlink(missing_ok=True)
