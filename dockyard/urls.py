from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("registry_app.urls")),
    path("", include("engine.urls")),
    path("", include("webui.urls")),
]
