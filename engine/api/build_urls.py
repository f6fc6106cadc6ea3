"""Routes of the build area of the Engine API."""

import re

from . import build
from .routes import api

# The build context reaches the view while it arrives (dockyard/asgi.py), not spooled whole.
STREAMED_BODIES = (re.compile(r"(?:/v[0-9.]+)?/build"),)

urlpatterns = [
    api(r"build", build.build, "build"),
    api(r"build/prune", build.prune, "build-prune"),
    api(r"system/df", build.disk_usage, "system-df"),
]
