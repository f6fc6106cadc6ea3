from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/containers/", consumers.ContainerListSocket.as_asgi()),
    path("ws/containers/<str:cid>/logs/", consumers.LogsSocket.as_asgi()),
    path("ws/containers/<str:cid>/stats/", consumers.StatsSocket.as_asgi()),
    path("ws/containers/<str:cid>/terminal/", consumers.TerminalSocket.as_asgi()),
]
