import json

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.errors import InvalidName, InvalidScope, NameTaken, NotAllowed, NotFound
from accounts.models import AccessToken, Membership, Team
from accounts.services import (
    do_accept_invitation,
    do_cancel_invitation,
    do_create_team,
    do_create_token,
    do_decline_invitation,
    do_invite,
    do_leave_or_remove,
    do_revoke_token,
    is_team_admin,
    pending_invitations,
    teams_of,
    visible_team,
)

from ..access import actor_of, page
from ..audit import record
from ..forms import LoginForm, MemberForm, TeamForm, TokenForm


class LoginView(auth_views.LoginView):
    """Django's sign-in page, answering 429 with Retry-After while sign-ins are limited."""

    form_class = LoginForm
    template_name = "webui/login.html"

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


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
    mine = teams_of(request.user).prefetch_related("memberships__user").order_by("name")
    return render(
        request,
        "webui/teams.html",
        {"form": form, "teams": mine, "invitations": pending_invitations(request.user)},
    )


def _team_for(request, name: str) -> Team:
    try:
        return visible_team(actor_of(request.user), name)
    except NotFound:
        raise Http404 from None


@page
def team(request, name):
    team = _team_for(request, name)
    actor = actor_of(request.user)
    admin = is_team_admin(actor, team)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        if not admin:
            raise Http404
        if form.is_valid():
            user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
            if user is None:
                form.add_error("username", "no such user")
            else:
                made = do_invite(actor, team, user, form.cleaned_data["role"])
                member = user.get_username()
                if isinstance(made, Membership):
                    record(request.user, "team.member", team.name, member=member, role=made.role)
                    messages.success(request, f"{member} is a member ({made.role})")
                else:
                    record(request.user, "team.invite", team.name, member=member, role=made.role)
                    messages.success(request, f"Invited {member}; they join once they accept")
                return redirect("webui:team", name=team.name)
    memberships = team.memberships.select_related("user").order_by("user__username")
    invitations = team.invitations.select_related("user").order_by("user__username")
    return render(
        request,
        "webui/team.html",
        {
            "team": team,
            "memberships": memberships,
            "invitations": invitations if admin else [],
            "admin": admin,
            "form": form,
        },
    )


@require_POST
@page
def remove_member(request, name, pk):
    team = _team_for(request, name)
    membership = get_object_or_404(Membership, pk=pk, team=team)
    try:
        do_leave_or_remove(actor_of(request.user), team, membership.user)
    except NotAllowed:
        raise Http404 from None
    record(request.user, "team.unmember", team.name, member=membership.user.get_username())
    if membership.user == request.user:
        messages.success(request, f"You left {team.name}")
        return redirect("webui:teams")
    return redirect("webui:team", name=team.name)


@require_POST
@page
def cancel_invitation(request, name, pk):
    team = _team_for(request, name)
    try:
        invitation = do_cancel_invitation(actor_of(request.user), team, pk)
    except (NotAllowed, NotFound):
        raise Http404 from None
    record(request.user, "team.uninvite", team.name, member=invitation.user.get_username())
    return redirect("webui:team", name=team.name)


@require_POST
@page
def answer_invitation(request, pk, answer):
    """The invited user accepts or declines; nobody else can see the invitation."""
    try:
        if answer == "accept":
            membership = do_accept_invitation(request.user, pk)
        elif answer == "decline":
            invitation = do_decline_invitation(request.user, pk)
        else:
            raise NotFound(answer)
    except NotFound:
        raise Http404 from None
    if answer == "accept":
        record(request.user, "team.join", membership.team.name, role=membership.role)
        messages.success(request, f"You joined {membership.team.name} ({membership.role})")
        return redirect("webui:team", name=membership.team.name)
    record(request.user, "team.decline", invitation.team.name)
    messages.success(request, f"Declined the invitation to {invitation.team.name}")
    return redirect("webui:teams")
