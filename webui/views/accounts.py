import json

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.errors import InvalidName, InvalidScope, NameTaken
from accounts.models import AccessToken, Membership, Team
from accounts.services import (
    do_add_member,
    do_create_team,
    do_create_token,
    do_remove_member,
    do_revoke_token,
)

from ..access import page
from ..audit import record
from ..forms import MemberForm, TeamForm, TokenForm


@page
def password(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        record(user, "password.change", user.get_username())
        messages.success(request, "Password changed; your other open pages were disconnected.")
        return redirect("webui:tokens")
    return render(request, "webui/password.html", {"form": form})


def engine_address(request) -> str:
    return f"tcp://{request.get_host()}"


@page
def tokens(request):
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = do_create_token(
                request.user, form.cleaned_data["name"], form.cleaned_data["scopes"]
            )
        except (InvalidName, InvalidScope) as e:
            form.add_error(None, str(e))
        else:
            record(request.user, "token.create", token.name)
            created = {
                "token": token,
                "raw": raw,
                "config": json.dumps({"HttpHeaders": {"Authorization": f"Bearer {raw}"}}, indent=2),
            }
            form = TokenForm()
    return render(
        request,
        "webui/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": AccessToken.objects.filter(user=request.user).order_by("-created"),
            "docker_host": engine_address(request),
        },
    )


@require_POST
@page
def revoke_token(request, pk):
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    do_revoke_token(token)
    record(request.user, "token.revoke", token.name)
    messages.success(request, f"Revoked {token.name}")
    return redirect("webui:tokens")


def _is_team_admin(user, team: Team) -> bool:
    return user.is_superuser or team.memberships.filter(user=user, role="admin").exists()


@page
def teams(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = do_create_team(form.cleaned_data["name"], creator=request.user)
        except (InvalidName, NameTaken) as e:
            form.add_error("name", str(e))
        else:
            record(request.user, "team.create", team.name)
            return redirect("webui:team", name=team.name)
    mine = Team.objects.filter(memberships__user=request.user).prefetch_related("memberships__user")
    return render(request, "webui/teams.html", {"form": form, "teams": mine})


def _team_for(user, name: str) -> Team:
    team = get_object_or_404(Team, name=name)
    if not user.is_superuser and not team.memberships.filter(user=user).exists():
        raise Http404
    return team


@page
def team(request, name):
    team = _team_for(request.user, name)
    admin = _is_team_admin(request.user, team)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        if not admin:
            raise Http404
        if form.is_valid():
            user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
            if user is None:
                form.add_error("username", "no such user")
            else:
                do_add_member(team, user, form.cleaned_data["role"])
                record(request.user, "team.member", team.name, member=user.get_username())
                return redirect("webui:team", name=team.name)
    memberships = team.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "webui/team.html",
        {"team": team, "memberships": memberships, "admin": admin, "form": form},
    )


@require_POST
@page
def remove_member(request, name, pk):
    team = _team_for(request.user, name)
    if not _is_team_admin(request.user, team):
        raise Http404
    membership = get_object_or_404(Membership, pk=pk, team=team)
    do_remove_member(team, membership.user)
    record(request.user, "team.unmember", team.name, member=membership.user.get_username())
    return redirect("webui:team", name=team.name)
