"""Admin: document requirements are data the compliance officer edits (owner, cadence, description)."""

from django.contrib import admin

from apps.attestations.models import DocumentRequirement


@admin.register(DocumentRequirement)
class DocumentRequirementAdmin(admin.ModelAdmin):
    list_display = ["control", "kind", "cadence_days", "owner", "origin"]
    list_filter = ["kind", "control__framework"]
    search_fields = ["control__control_id", "control__title", "description"]
    autocomplete_fields = []
    raw_id_fields = ["control", "owner"]
    readonly_fields = ["origin"]
