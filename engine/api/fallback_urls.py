"""The last route of the whole site: any path nothing else claimed (see fallback.py)."""

from django.urls import re_path

from .fallback import not_found

urlpatterns = [re_path(r"", not_found, name="engine-page-not-found")]
