from django.contrib.auth import views as auth_views
from django.urls import path

from .views import accounts, containers, images, nodes, registry, volumes

app_name = "webui"

# The Engine API owns /containers/, /images/, /v1.xx/ and friends on the same server, so every
# page but the home page and sign-in lives under /ui/.
urlpatterns = [
    path("", containers.container_list, name="home"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("ui/containers.json", containers.container_list_json, name="containers-json"),
    path("ui/containers/run/", containers.run, name="run"),
    path("ui/containers/bulk/", containers.bulk_action, name="bulk"),
    path("ui/containers/<str:cid>/", containers.container_detail, name="container"),
    path("ui/containers/<str:cid>/files/", containers.files, name="files"),
    path("ui/containers/<str:cid>/log.txt", containers.download_logs, name="download-logs"),
    path(
        "ui/containers/<str:cid>/do/<str:action>/",
        containers.container_action,
        name="container-action",
    ),
    path("ui/containers/<str:cid>/<str:tab>/", containers.container_detail, name="container-tab"),
    path("ui/images/", images.image_list, name="images"),
    path("ui/images/<str:image_id>/", images.image_detail, name="image"),
    path("ui/images/<str:image_id>/tag/", images.tag, name="image-tag"),
    path("ui/images/<str:image_id>/remove/", images.remove, name="image-remove"),
    path("ui/volumes/", volumes.volume_list, name="volumes"),
    path("ui/volumes/prune/", volumes.prune, name="volumes-prune"),
    path("ui/volumes/<str:node>/<str:name>/remove/", volumes.remove, name="volume-remove"),
    path("ui/nodes/", nodes.node_list, name="nodes"),
    path("ui/nodes/join-token/", nodes.join_token, name="node-join-token"),
    path("ui/nodes/<str:name>/availability/", nodes.availability, name="node-availability"),
    path("ui/registry/", registry.repositories, name="repositories"),
    path("ui/registry/<path:name>/tags/<str:tag>/delete/", registry.delete_tag, name="tag-delete"),
    path("ui/registry/<path:name>/visibility/", registry.visibility, name="visibility"),
    path("ui/registry/<path:name>/", registry.repository, name="repository"),
    path("ui/account/password/", accounts.password, name="password"),
    path("ui/account/tokens/", accounts.tokens, name="tokens"),
    path("ui/account/tokens/<int:pk>/revoke/", accounts.revoke_token, name="token-revoke"),
    path("ui/teams/", accounts.teams, name="teams"),
    path("ui/teams/<str:name>/", accounts.team, name="team"),
    path(
        "ui/teams/<str:name>/members/<int:pk>/remove/", accounts.remove_member, name="member-remove"
    ),
    path(
        "ui/teams/<str:name>/invitations/<int:pk>/cancel/",
        accounts.cancel_invitation,
        name="invitation-cancel",
    ),
    path(
        "ui/invitations/<int:pk>/<str:answer>/",
        accounts.answer_invitation,
        name="invitation-answer",
    ),
]
