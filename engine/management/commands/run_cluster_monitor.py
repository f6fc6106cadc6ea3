import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from engine.services.networks.spans import resync_changed
from engine.services.nodes_failover import reschedule_from_down_nodes

# As often as nodes heartbeat: a node is down 15 s after its last one, moved within 5 s more.
INTERVAL = 5.0


class Command(BaseCommand):
    help = (
        "Watch the cluster's nodes; move opted-in containers off nodes that went down, and "
        "tell the nodes of a spanning network when its containers changed."
    )

    def handle(self, *args, **options):
        try:
            while True:
                close_old_connections()
                reschedule_from_down_nodes()
                resync_changed()
                time.sleep(INTERVAL)
        except KeyboardInterrupt:
            pass
