from django.urls import path, re_path

from . import views

# Repository names contain slashes, so each route anchors on what follows the name.
urlpatterns = [
    re_path(r"^v2/$", views.base),
    re_path(r"^v2/_catalog$", views.catalog),
    re_path(r"^v2/(?P<name>.+)/tags/list$", views.tags_list),
    re_path(r"^v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$", views.manifest),
    re_path(r"^v2/(?P<name>.+)/blobs/uploads/$", views.upload_start),
    re_path(r"^v2/(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$", views.upload),
    re_path(r"^v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$", views.blob),
    re_path(r"^v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$", views.referrers),
    re_path(r"^v2/", views.unknown),
    path("auth/token", views.token),
]
