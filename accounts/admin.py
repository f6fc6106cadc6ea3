from django.contrib import admin

from .models import AccessToken, Invitation, LoginFailure, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("team", "user", "role")
    list_filter = ("role",)


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "scopes", "created", "last_used", "expires", "revoked")
    list_filter = ("revoked",)
    readonly_fields = ("key", "secret_hash", "last_used")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("team", "user", "role", "invited_by", "created")
    list_filter = ("role",)


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ("username", "address", "at")
    search_fields = ("username", "address")
