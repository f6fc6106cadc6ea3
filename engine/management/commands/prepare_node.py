import os
import platform

from django.conf import settings
from django.core.management.base import BaseCommand

from engine.nodes import local_node
from runtime import cgroups


class Command(BaseCommand):
    help = "Fix up the host for crun (cgroups) and register this machine as a node."

    def handle(self, *args, **options):
        cgroups.prepare_host()
        node = local_node()
        node.cgroup_version = cgroups.version().removeprefix("v")
        node.kernel = platform.release()
        node.cpus = os.cpu_count() or 1
        node.memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        node.save()
        self.stdout.write(
            f"node {node.name}: cgroup v{node.cgroup_version}, {node.cpus} cpus, "
            f"state in {settings.DOCKYARD_ROOT}"
        )
