import shlex

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.auth import client_address
from accounts.errors import TooManyAttempts
from accounts.models import Membership
from accounts.services import check_password
from engine.api.schemas import ContainerCreate

RESTART_POLICIES = [
    ("no", "never"),
    ("on-failure", "on failure"),
    ("unless-stopped", "unless stopped"),
    ("always", "always"),
]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class RunForm(forms.Form):
    image = forms.CharField(max_length=500, initial="busybox:latest")
    name = forms.CharField(max_length=255, required=False)
    command = forms.CharField(max_length=2000, required=False, help_text="as in a shell")
    env = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="KEY=value per line"
    )
    ports = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="host:container per line, e.g. 8080:80",
    )
    volumes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="source:/path[:ro] per line",
    )
    memory_mb = forms.IntegerField(min_value=0, required=False, label="Memory limit (MiB)")
    cpus = forms.FloatField(min_value=0, required=False, label="CPUs")
    restart = forms.ChoiceField(choices=RESTART_POLICIES, initial="no")
    tty = forms.BooleanField(required=False, label="Allocate a terminal")

    def clean_command(self) -> list[str] | None:
        try:
            return shlex.split(self.cleaned_data["command"]) or None
        except ValueError as e:
            raise forms.ValidationError(f"cannot split the command: {e}") from None

    def clean_env(self) -> list[str]:
        env = _lines(self.cleaned_data["env"])
        for item in env:
            if "=" not in item:
                raise forms.ValidationError(f"{item!r} is not KEY=value")
        return env

    def clean_ports(self) -> dict[str, list[dict[str, str]]]:
        bindings: dict[str, list[dict[str, str]]] = {}
        for item in _lines(self.cleaned_data["ports"]):
            host, _, inside = item.rpartition(":")
            port, _, proto = inside.partition("/")
            if not port.isdigit() or (host and not host.split(":")[-1].isdigit()):
                raise forms.ValidationError(f"{item!r} is not host:container")
            ip, _, host_port = host.rpartition(":")
            key = f"{port}/{proto or 'tcp'}"
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host_port})
        return bindings

    def clean_volumes(self) -> list[str]:
        volumes = _lines(self.cleaned_data["volumes"])
        for item in volumes:
            if ":" not in item:
                raise forms.ValidationError(f"{item!r} is not source:/path")
        return volumes

    def create_body(self) -> ContainerCreate:
        d = self.cleaned_data
        host = {
            "PortBindings": d["ports"] or None,
            "Binds": d["volumes"] or None,
            "Memory": (d["memory_mb"] or 0) * 1024 * 1024,
            "NanoCpus": int((d["cpus"] or 0) * 1e9),
            "RestartPolicy": {"Name": "" if d["restart"] == "no" else d["restart"]},
        }
        return ContainerCreate(
            Image=d["image"],
            Cmd=d["command"],
            Env=d["env"] or None,
            Tty=d["tty"],
            OpenStdin=d["tty"],
            ExposedPorts={port: {} for port in d["ports"]} or None,
            HostConfig=host,
        )


class LoginForm(AuthenticationForm):
    """The sign-in form, with the password checked under the sign-in limits (accounts/)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Seconds to wait, once the limits refuse a check; the view answers 429.
        self.retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = check_password(
                    username, password, client_address(self.request), self.request
                )
            except TooManyAttempts as e:
                self.retry_after = e.retry_after
                raise forms.ValidationError(str(e), code="too_many_attempts") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ("read", "write", "admin")],
        widget=forms.CheckboxSelectMultiple,
        initial=["read", "write"],
    )


class TeamForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="lowercase letters, digits and . _ -")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.WRITE)


class TagForm(forms.Form):
    repository = forms.CharField(max_length=255)
    tag = forms.CharField(max_length=128, initial="latest")


class PullForm(forms.Form):
    reference = forms.CharField(max_length=500, label="Image", initial="busybox:latest")


class BuildForm(forms.Form):
    tag = forms.CharField(max_length=255, required=False)
    dockerfile = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}), required=False
    )
    context = forms.FileField(required=False, help_text="a .tar or .tar.gz build context")
