"""Swarm routes, answered as a dockerd that is in no swarm answers them.

Dockyard runs no swarm mode: clients that probe swarm (`docker info`, `docker node ls`,
docker-compose, Portainer) must hear dockerd's 503 for a node outside a swarm and carry on,
not fail on a 404 page.
"""

from django.http import HttpRequest, JsonResponse

from accounts.actors import Actor

from ..errors import Unavailable
from .base import engine_view

# dockerd's words, which clients match on.
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
NOT_IN_A_SWARM = "This node is not part of a swarm"
SWARM_STATE = "inactive"


def _refusal(message: str, *methods: str):
    @engine_view(*methods)
    def refuse(request: HttpRequest, actor: Actor, **kwargs) -> JsonResponse:
        raise Unavailable(message)

    return refuse


read = _refusal(NOT_A_MANAGER, "GET")
change = _refusal(NOT_A_MANAGER, "POST")
read_or_remove = _refusal(NOT_A_MANAGER, "GET", "DELETE")
leave = _refusal(NOT_IN_A_SWARM, "POST")
