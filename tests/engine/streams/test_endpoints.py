"""Where a stream to a node's agent goes, and when it fails at once instead."""

import asyncio
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from engine.models import Node
from engine.nodes import NODE_DOWN_AFTER
from engine.streams import endpoints

pytestmark = pytest.mark.django_db(transaction=True)


def test_this_machines_own_agent_is_tried_without_asking_the_database():
    # A row that would say "down" for another node: the local agent's socket is tried anyway.
    Node.objects.create(name=settings.DOCKYARD_NODE, joined=True, last_seen=None)
    assert asyncio.run(endpoints.unreachable(settings.DOCKYARD_NODE)) == ""


def test_a_joined_node_is_refused_once_silent():
    stale = timezone.now() - NODE_DOWN_AFTER - timedelta(seconds=1)
    Node.objects.create(
        name="far", joined=True, last_seen=timezone.now(), stream_address="tcp://192.0.2.7:2377"
    )
    Node.objects.create(
        name="silent", joined=True, last_seen=stale, stream_address="tcp://192.0.2.8:2377"
    )
    assert asyncio.run(endpoints.unreachable("far")) == ""
    assert asyncio.run(endpoints.unreachable("silent")) == "node silent is down (no heartbeat)"
