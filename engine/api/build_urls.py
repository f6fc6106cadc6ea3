"""Routes of the build area of the Engine API."""

from . import build
from .routes import api

urlpatterns = [
    api(r"build", build.build, "build"),
    api(r"build/prune", build.prune, "build-prune"),
    api(r"system/df", build.disk_usage, "system-df"),
]
