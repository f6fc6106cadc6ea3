"""mallory's read-only token, over TCP, against every route of the Engine API.

The walk goes over engine/urls.py itself, so a route added later is walked too: unless it
refuses a read-only token for anything but reading, or is listed below as reading, this
test fails.
"""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve

from accounts.services import do_create_token
from engine import urls as engine_urls

pytestmark = pytest.mark.django_db

READ_METHODS = ("GET", "HEAD")
# Routes whose non-GET methods only read (decided in engine/api/scopes.py; repeated here so
# that loosening one is a change to two files and shows in review).
READS = {("engine-auth", "POST"), ("engine-container-wait", "POST")}
ADMIN_ONLY = {
    ("engine-image-prune", "POST"),
    ("engine-build-prune", "POST"),
    ("engine-node-update", "POST"),
}
SAMPLES = {"ref": "nosuchcontainer", "name": "busybox", "exec_id": "nosuchexec"}
VERSION_PREFIX = re.compile(r"^\^\(\?:v\(\?P<version>[^)]*\)/\)\?")


def concrete_path(route) -> str:
    """A request path for a route's pattern, with `/v1.47/` and a sample for each name."""
    pattern = VERSION_PREFIX.sub("", route.pattern.regex.pattern).removesuffix("$")
    for name, sample in SAMPLES.items():
        pattern = re.sub(rf"\(\?P<{name}>[^)]*\)", sample, pattern)
    assert "(" not in pattern, f"{route.name}: teach this test a sample for {pattern}"
    path = f"/v1.47/{pattern}"
    assert resolve(path).url_name == route.name, path
    return path


def walk() -> list[tuple[str, str, str]]:
    """(route name, method, path) for every method of every Engine API route."""
    found = []
    for route in engine_urls.urlpatterns:
        methods = getattr(route.callback, "engine_methods", None)
        assert methods, f"{route.name} is not an engine_view: nothing checks its scope"
        found += [(route.name, method, concrete_path(route)) for method in methods]
    return found


ROUTES = walk()


def needed(route: str, method: str) -> str:
    if (route, method) in ADMIN_ONLY:
        return "admin"
    if method in READ_METHODS or (route, method) in READS:
        return "read"
    return "write"


@pytest.fixture
def mallory(db):
    # She signs in with tokens only: no password to hash for every case.
    return User.objects.create_user("mallory")


def token_client(user, *scopes: str) -> Client:
    _, secret = do_create_token(user, "-".join(scopes), list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def call(client: Client, method: str, path: str):
    return client.generic(method, path, b"", content_type="application/json")


def cases(wanted) -> list:
    return [pytest.param(*r, id=f"{r[1]} {r[0]}") for r in ROUTES if wanted(r[0], r[1])]


@pytest.mark.parametrize(
    ("route", "method", "path"), cases(lambda route, method: needed(route, method) != "read")
)
def test_a_read_only_token_changes_nothing(mallory, route, method, path):
    response = call(token_client(mallory, "read"), method, path)
    assert response.status_code == 403, response.content
    message = response.json()["message"]
    scope = needed(route, method)
    assert f"'{scope}' scope" in message
    assert message.startswith(f"{method} {path.removeprefix('/v1.47')} needs")


@pytest.mark.parametrize(
    ("route", "method", "path"), cases(lambda route, method: (route, method) in ADMIN_ONLY)
)
def test_node_wide_clean_ups_need_the_admin_scope(mallory, route, method, path):
    response = call(token_client(mallory, "read", "write"), method, path)
    assert response.status_code == 403
    assert "'admin' scope" in response.json()["message"]


def test_every_exception_names_a_real_route():
    routes = {(name, method) for name, method, _ in ROUTES}
    assert routes >= READS | ADMIN_ONLY


@pytest.mark.parametrize(
    "path",
    ["/v1.47/_ping", "/v1.47/version", "/v1.47/containers/json", "/v1.47/images/json"]
    # Reads of one container or exec, which need no node to answer 404.
    + [p for _, m, p in ROUTES if m == "GET" and re.match("/v1.47/(containers/nosuch|exec/)", p)],
)
def test_a_read_only_token_still_reads(mallory, path):
    response = call(token_client(mallory, "read"), "GET", path)
    assert response.status_code in (200, 404), (path, response.content)


def test_waiting_for_a_container_is_reading(mallory):
    response = call(token_client(mallory, "read"), "POST", "/v1.47/containers/nosuch/wait")
    assert response.status_code == 404
    assert response.json()["message"].startswith("No such container")


def test_a_write_token_creates(mallory):
    # Refused for want of an image on this node, not for want of a scope.
    response = token_client(mallory, "read", "write").post(
        "/v1.47/containers/create", {"Image": "nosuchimage"}, content_type="application/json"
    )
    assert response.status_code == 404, response.content
    assert "No such image" in response.json()["message"]
