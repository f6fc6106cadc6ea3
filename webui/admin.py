from django.contrib import admin

from engine.models import ImageLayer

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created", "username", "action", "target"]
    list_filter = ["action", "created"]
    search_fields = ["username", "target"]
    date_hierarchy = "created"
    readonly_fields = ["created", "user", "username", "action", "target", "detail"]


@admin.register(ImageLayer)
class ImageLayerAdmin(admin.ModelAdmin):
    list_display = ["image", "position", "layer"]
    list_select_related = ["image", "layer"]
