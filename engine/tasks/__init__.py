"""Celery tasks by subsystem; importing the package registers all of them."""

from .archives import *  # noqa: F403
from .build import *  # noqa: F403
from .containers import *  # noqa: F403
from .distribution import *  # noqa: F403
from .images import *  # noqa: F403
from .networks import *  # noqa: F403
from .spans import *  # noqa: F403
from .volumes import *  # noqa: F403
