"""Project-wide static files live in the top-level static/ folder and are found there."""

from django.contrib.staticfiles import finders
from django.core.checks import run_checks


def test_the_static_folder_exists_so_no_warning_is_raised():
    ids = {message.id for message in run_checks(include_deployment_checks=False)}
    assert "staticfiles.W004" not in ids


def test_the_shared_stylesheet_is_served_from_the_project_static_folder(settings):
    found = finders.find("css/dockyard.css")
    assert found is not None
    assert str(settings.BASE_DIR / "static") in found
