"""Engine API routes, with or without Docker's `/v<version>/` prefix.

Each area's own route list comes before the generic `images/<name>` routes, which would
otherwise swallow paths such as `images/create`.
"""

from .api import (
    archives_urls,
    build_urls,
    containers,
    distribution_urls,
    execs,
    images,
    networks_urls,
    nodes_urls,
    swarm_urls,
    system,
    volumes_urls,
)
from .api.routes import ID, NAME, api

urlpatterns = [
    *networks_urls.urlpatterns,
    *distribution_urls.urlpatterns,
    *archives_urls.urlpatterns,
    *build_urls.urlpatterns,
    *volumes_urls.urlpatterns,
    # docker node ls / inspect / update answer with the cluster's nodes.
    *nodes_urls.urlpatterns,
    *swarm_urls.urlpatterns,
    api(r"_ping", system.ping, "ping"),
    api(r"version", system.version, "version"),
    api(r"info", system.info, "info"),
    api(r"events", system.events_stream, "events"),
    api(r"containers/create", containers.create, "container-create"),
    api(r"containers/json", containers.list_containers, "container-list"),
    api(r"containers/prune", containers.prune, "container-prune"),
    api(rf"containers/{ID}/json", containers.inspect, "container-inspect"),
    api(rf"containers/{ID}/start", containers.start, "container-start"),
    api(rf"containers/{ID}/stop", containers.stop, "container-stop"),
    api(rf"containers/{ID}/restart", containers.restart, "container-restart"),
    api(rf"containers/{ID}/kill", containers.kill, "container-kill"),
    api(rf"containers/{ID}/wait", containers.wait, "container-wait"),
    api(rf"containers/{ID}/pause", containers.pause, "container-pause"),
    api(rf"containers/{ID}/unpause", containers.unpause, "container-unpause"),
    api(rf"containers/{ID}/rename", containers.rename, "container-rename"),
    api(rf"containers/{ID}/resize", containers.resize, "container-resize"),
    api(rf"containers/{ID}/update", containers.update, "container-update"),
    api(rf"containers/{ID}/attach", containers.attach, "container-attach"),
    api(rf"containers/{ID}/logs", containers.container_logs, "container-logs"),
    api(rf"containers/{ID}/stats", containers.container_stats, "container-stats"),
    api(rf"containers/{ID}/top", containers.top, "container-top"),
    api(rf"containers/{ID}/changes", containers.changes, "container-changes"),
    api(rf"containers/{ID}/archive", containers.archive, "container-archive"),
    api(rf"containers/{ID}/exec", execs.create, "exec-create"),
    api(rf"containers/{ID}", containers.remove, "container-remove"),
    api(r"commit", containers.commit, "commit"),
    api(r"exec/(?P<exec_id>[^/]+)/start", execs.start, "exec-start"),
    api(r"exec/(?P<exec_id>[^/]+)/resize", execs.resize, "exec-resize"),
    api(r"exec/(?P<exec_id>[^/]+)/json", execs.inspect, "exec-inspect"),
    api(r"images/json", images.list_images, "image-list"),
    api(r"images/prune", images.prune, "image-prune"),
    api(rf"images/{NAME}/json", images.inspect, "image-inspect"),
    api(rf"images/{NAME}/history", images.history, "image-history"),
    api(rf"images/{NAME}/tag", images.tag, "image-tag"),
    api(rf"images/{NAME}", images.remove, "image-remove"),
]
