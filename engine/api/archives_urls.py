"""Routes of the archives area of the Engine API."""

from . import archives
from .routes import ID, NAME, api

urlpatterns = [
    api(r"images/get", archives.save_images, "image-save-many"),
    api(r"images/load", archives.load_images, "image-load"),
    api(rf"images/{NAME}/get", archives.save_image, "image-save"),
    api(rf"containers/{ID}/export", archives.export_container, "container-export"),
]
