import asyncio

from django.core.management.base import BaseCommand

from engine.agent.service import Agent


class Command(BaseCommand):
    help = "Run this node's agent: stream relay, exit watcher, reconciler."

    def handle(self, *args, **options):
        try:
            asyncio.run(Agent().run())
        except KeyboardInterrupt:
            pass
