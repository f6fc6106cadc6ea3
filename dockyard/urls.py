from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # One sign-in form, the dashboard's, with its limits on password guessing.
    path("admin/login/", RedirectView.as_view(url="/login/", query_string=True)),
    path("admin/", admin.site.urls),
    path("", include("registry_app.urls")),
    path("", include("engine.urls")),
    path("", include("engine.api.join_urls")),
    path("", include("webui.urls")),
    # Last: a path nothing above knows gets dockerd's JSON 404, not an HTML page.
    path("", include("engine.api.fallback_urls")),
]
