"""Paths the Engine API does not know: dockerd's JSON 404, never an HTML page."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

UNKNOWN = [
    "/v1.47/nosuchroute",
    "/v1.47/containers/abc/nosuchverb",
    "/v1.47/containers/json/",
    "/v1.24/plugins",
    "/nosuchroute",
    "/ui/nosuchpage/deeper",
]


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
def test_an_unknown_route_answers_page_not_found_in_json(path, method):
    # Anonymous, as a client probing before it signs in: the answer names nothing.
    response = Client().generic(method, path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "page not found"}


def test_a_head_request_gets_the_status_without_a_body():
    response = Client().head("/v1.47/nosuchroute")
    assert response.status_code == 404
    assert response.content == b""


def test_a_browser_asking_for_a_page_gets_the_dashboards_404():
    response = Client().get("/nosuchpage/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_versioned_path_is_the_apis_even_for_a_browser():
    response = Client().get("/v1.47/nosuchroute", HTTP_ACCEPT="text/html")
    assert response.json() == {"message": "page not found"}


def test_the_dashboard_and_the_registry_keep_their_routes():
    assert Client().get("/login/").status_code == 200
    registry = Client().get("/v2/nosuch/name/tags/list")
    assert registry.status_code in (401, 404)
    assert "errors" in registry.json()
