"""Celery tasks by subsystem; importing the package registers all of them."""

from .containers import *  # noqa: F403
from .images import *  # noqa: F403
