"""Evidence is never edited or deleted by the application: the admin only shows it."""

from django.contrib import admin

from apps.evidence.models import Artifact, Evidence, LineageEdge


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    list_display = ("uri", "kind", "name", "system", "first_seen")
    list_filter = ("kind",)
    search_fields = ("uri", "name")


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "kind", "verdict", "system", "source", "effective_at", "received_at")
    list_filter = ("verdict", "kind", "source")
    list_select_related = ("system", "source")
    search_fields = ("title", "sha256")
    raw_id_fields = ("receipt", "subject")


@admin.register(LineageEdge)
class LineageEdgeAdmin(ReadOnlyAdmin):
    list_display = ("source", "relation", "target", "evidence")
    list_select_related = ("source", "target")
    raw_id_fields = ("source", "target", "evidence")
