"""Images a node lacks come from the platform's registry onto that node, when a container
placed there needs them: the node pulls with a read-only personal access token of the user
that lives five minutes, or anonymously for the node's own administrator."""

import logging
from datetime import timedelta

from django.utils import timezone

from accounts.services import do_create_token, do_revoke_token

from .. import tasks
from ..errors import ApiError, NotFound
from ..models import Image, Node
from ..nodes import run_on_node
from .access import Actor
from .distribution import _claim_pulled, authorize_pull, check_reference
from .images import resolve_image, sync_images

log = logging.getLogger(__name__)
PULL_TOKEN_TTL = timedelta(minutes=5)


def ensure_image(actor: Actor, node: Node, ref: str) -> Image:
    """The image `ref` as `actor` sees it on `node`, pulled there first if need be."""
    try:
        return resolve_image(actor, node, ref)
    except NotFound:
        if not node.joined:
            raise
    hold = authorize_pull(actor, check_reference(ref))
    token, auth = None, {}
    if actor.user is not None:
        token, secret = do_create_token(
            actor.user,
            f"pull onto node {node.name}",
            ["read"],
            expires=timezone.now() + PULL_TOKEN_TTL,
        )
        auth = {"username": actor.user.get_username(), "password": secret}
    try:
        answer = run_on_node(node, tasks.pull_image, check_reference(ref), auth, None)
    except ApiError as e:
        log.warning("pulling %s onto node %s: %s", ref, node.name, e.message)
        # The docker CLI pulls on this answer and tries again, and a pull says what is wrong.
        raise NotFound(f"No such image: {ref}") from None
    finally:
        if token is not None:
            do_revoke_token(token)
    sync_images(node)
    _claim_pulled(actor, node, answer["id"], hold)
    return resolve_image(actor, node, ref)
