from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _refresh_node_grants(**kwargs) -> None:
    from .services.nodes_credentials import refresh_node_grants

    refresh_node_grants()


class EngineConfig(AppConfig):
    name = "engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Joined nodes hold the engine's tables through a role; an upgrade's new tables join
        # it when `migrate` ends.
        post_migrate.connect(_refresh_node_grants, sender=self)
