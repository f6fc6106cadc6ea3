"""Routes of the distribution area of the Engine API."""

urlpatterns: list = []
