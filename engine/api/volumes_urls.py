"""Routes of the volumes area of the Engine API."""

from . import volumes
from .routes import api

urlpatterns = [
    api(r"volumes", volumes.list_volumes, "volume-list"),
    api(r"volumes/create", volumes.create, "volume-create"),
    api(r"volumes/prune", volumes.prune, "volume-prune"),
    api(r"volumes/(?P<name>[^/]+)", volumes.volume, "volume"),
]
