"""Engine API routes accept Docker's optional `/v<version>/` prefix."""

from django.urls import re_path

VERSION = r"^(?:v(?P<version>[0-9][0-9.]*)/)?"
ID = r"(?P<ref>[^/]+)"
NAME = r"(?P<name>.+?)"


def api(pattern: str, view, name: str):
    return re_path(VERSION + pattern + "$", view, name=f"engine-{name}")
