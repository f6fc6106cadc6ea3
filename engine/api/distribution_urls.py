"""Routes of the distribution area of the Engine API."""

from . import distribution
from .routes import NAME, api

urlpatterns = [
    api(r"auth", distribution.login, "auth"),
    api(r"images/create", distribution.create_image, "image-create"),
    api(r"images/search", distribution.search, "image-search"),
    api(rf"images/{NAME}/push", distribution.push_image, "image-push"),
]
