"""Routes of the build area of the Engine API."""

urlpatterns: list = []
