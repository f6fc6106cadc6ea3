"""Node routes: `docker node ls / inspect / update` (the join endpoint for hosts is in
join_urls.py: it is no Engine API route, a host has no user to ask as)."""

from . import nodes
from .routes import ID, api

urlpatterns = [
    api(r"nodes", nodes.list_nodes, "node-list"),
    api(rf"nodes/{ID}/update", nodes.update, "node-update"),
    api(rf"nodes/{ID}", nodes.inspect, "node-inspect"),
]
