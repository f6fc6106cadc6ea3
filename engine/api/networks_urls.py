"""Routes of the networks area of the Engine API."""

urlpatterns: list = []
