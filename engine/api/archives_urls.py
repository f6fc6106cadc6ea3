"""Routes of the archives area of the Engine API."""

urlpatterns: list = []
