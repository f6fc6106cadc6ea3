import asyncio

import pytest
from django.core.signals import request_finished, request_started

from tests.registry_app.helpers import asgi_call, basic, no_body


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/v2/", "/no/such/page/"])
def test_a_request_starts_and_finishes_once_around_its_view(alice, path):
    # Django closes worn-out database connections on these signals; a view between two
    # requests' signals would run on a connection nobody checked.
    seen = []

    def started(**kwargs):
        seen.append(("started", kwargs["scope"]["path"]))

    def finished(**kwargs):
        seen.append(("finished", None))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        status, _ = asyncio.run(asgi_call("GET", path, no_body(), basic("alice")))
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert status == (200 if path == "/v2/" else 404)
    assert seen == [("started", path), ("finished", None)]
