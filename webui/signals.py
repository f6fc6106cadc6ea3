"""Audit entries and websocket closing, hooked to the models other apps write."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from engine.models import Container
from registry_app.models import Tag

from .audit import current_user, record


def user_group(user_id: int) -> str:
    """Every dashboard websocket of a user listens here, so they can all be closed at once."""
    return f"webui.user.{user_id}"


def close_user_sockets(user_id: int) -> None:
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "session.close"})


def _logged_in(sender, request, user, **kwargs):
    record(user, "login", user.get_username())


def _login_failed(sender, credentials, request=None, **kwargs):
    record(None, "login.failed", credentials.get("username", ""))


def _password_changing(sender, instance, **kwargs):
    if instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        transaction.on_commit(lambda: close_user_sockets(instance.pk))


def _container_saved(sender, instance: Container, created: bool, **kwargs):
    if created:
        record(
            instance.owner, "container.run", instance.name, id=instance.id, image=instance.image_ref
        )


def _container_deleted(sender, instance: Container, **kwargs):
    record(current_user(), "container.remove", instance.name, id=instance.id)


def _tag_saved(sender, instance: Tag, **kwargs):
    target = f"{instance.repository.name}:{instance.name}"
    record(instance.manifest.pushed_by, "push", target, digest=instance.manifest.digest)


def _tag_deleted(sender, instance: Tag, **kwargs):
    record(current_user(), "tag.delete", f"{instance.repository.name}:{instance.name}")


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="webui.audit.login")
    user_login_failed.connect(_login_failed, dispatch_uid="webui.audit.login_failed")
    pre_save.connect(_password_changing, sender=get_user_model(), dispatch_uid="webui.password")
    post_save.connect(_container_saved, sender=Container, dispatch_uid="webui.audit.run")
    post_delete.connect(_container_deleted, sender=Container, dispatch_uid="webui.audit.rm")
    post_save.connect(_tag_saved, sender=Tag, dispatch_uid="webui.audit.push")
    post_delete.connect(_tag_deleted, sender=Tag, dispatch_uid="webui.audit.untag")
