"""The dashboard's view of who is asking, with the engine's own permission rules."""

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect

from accounts.actors import Actor, acting, session_actor
from engine.errors import ApiError, NotFound
from engine.models import Container
from engine.services.containers import resolve_container


def actor_of(user) -> Actor:
    """The actor of a signed-in dashboard user, for pages and websockets alike."""
    actor = session_actor(user)
    if actor is None:
        raise Http404("sign in first")
    return actor


def container_for(user, ref: str) -> Container:
    """A container the user may see, or a 404 that says no more than a missing one would."""
    try:
        return resolve_container(actor_of(user), ref)
    except NotFound:
        raise Http404("No such container") from None


def page(view):
    """A signed-in page; engine errors become a message and a redirect back."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with acting(actor_of(request.user)):
            try:
                return view(request, *args, **kwargs)
            except ApiError as e:
                messages.error(request, e.message)
                return redirect(request.META.get("HTTP_REFERER") or "webui:home")

    return wrapper
