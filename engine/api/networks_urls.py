"""Routes of the networks area of the Engine API."""

from . import networks
from .routes import ID, api

urlpatterns = [
    api(r"networks", networks.list_networks, "network-list"),
    api(r"networks/create", networks.create, "network-create"),
    api(r"networks/prune", networks.prune, "network-prune"),
    api(rf"networks/{ID}/connect", networks.connect, "network-connect"),
    api(rf"networks/{ID}/disconnect", networks.disconnect, "network-disconnect"),
    api(rf"networks/{ID}", networks.network, "network"),
]
