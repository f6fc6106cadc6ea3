from django.contrib import admin

from .models import Blob, Manifest, Namespace, Repository, Tag, Upload


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "team")
    search_fields = ("name",)


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ("name", "visibility", "created")
    list_filter = ("visibility",)
    search_fields = ("name",)


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ("digest", "size", "media_type", "created")
    search_fields = ("digest",)


@admin.register(Manifest)
class ManifestAdmin(admin.ModelAdmin):
    list_display = ("repository", "digest", "media_type", "size", "pushed_by", "pushed_at")
    search_fields = ("digest", "repository__name")
    exclude = ("content", "blobs")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("repository", "name", "manifest", "updated")
    search_fields = ("name", "repository__name")


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("uuid", "repository", "offset", "started")
