from django.contrib import admin

from .models import Container, ExecInstance, Image, Layer, Node


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["name", "cgroup_version", "cpus", "memory", "last_seen"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["image_id", "tags", "node", "size", "created"]
    list_filter = ["node"]
    search_fields = ["image_id", "tags"]


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ["diff_id", "digest", "size"]


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    list_display = ["name", "image_ref", "status", "owner", "node", "created"]
    list_filter = ["status", "node", "owner"]
    search_fields = ["id", "name", "image_ref"]


@admin.register(ExecInstance)
class ExecInstanceAdmin(admin.ModelAdmin):
    list_display = ["id", "container", "running", "exit_code", "created"]
