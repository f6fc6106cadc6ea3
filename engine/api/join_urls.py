"""The endpoint a host joins a cluster at with its one-time token (see services/nodes.py)."""

from django.urls import path

from . import nodes

urlpatterns = [path("api/nodes/join", nodes.join, name="node-join")]
