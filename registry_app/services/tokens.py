"""Bearer tokens: what a credential may do in a repository, and the tokens that grant it."""

from accounts.actors import Actor

from .. import tokens
from ..errors import RegistryError
from ..names import check_name
from ..permissions import allowed_actions, scope_actions


def granted_actions(actor: Actor | None, name: str) -> frozenset[str]:
    """What a credential may do in repository `name`: the user's rights within its scopes."""
    actions = allowed_actions(actor, name)
    return actions & scope_actions(actor.scopes) if actor else actions


def do_issue_token(actor: Actor | None, scopes: list[str]) -> dict:
    """A bearer token granting, of the requested scopes, only what the actor may do."""
    access = []
    for raw in scopes:
        requested = tokens.parse_scope(raw)
        if requested is None:
            continue
        granted: frozenset[str] = frozenset()
        if requested.type == "repository":
            try:
                check_name(requested.name)
            except RegistryError:
                continue
            wanted = requested.actions
            if "*" in wanted:
                wanted = frozenset({"pull", "push", "delete"})
            granted = wanted & granted_actions(actor, requested.name)
        elif requested.type == "registry" and requested.name == "catalog" and actor:
            granted = requested.actions & {"*"}
        access.append(tokens.ResourceScope(requested.type, requested.name, granted))
    if actor is None:
        return tokens.issue("", None, None, access)
    token_id = actor.token.pk if actor.token else None
    return tokens.issue(actor.user.get_username(), actor.user.pk, token_id, access)
