"""Who may speak for a system, so a green is earned: no source can pass another system's controls.

A source bound to a system writes evidence only about that system's subjects, or about
subjects not yet known (which then become that system's; see `owned_by_other_system` for what
"belongs" means); anything else is refused before
anything is stored (`source_binding_check`, 403) or, when the subject is only known after
parsing, not attached to it (apps.evidence.services). Policy counts evidence for a system's
subjects only when its source is allowed for that system: bound to it, or bound to no system
and allowed there by an admin (SourceAllowance). `counted_sql()` is that rule in SQL (the
policy facts use it); apps.evidence.selectors.evidence_counting() is the same rule for one piece
of evidence (pages), and the refusal wording is apps.evidence.services.binding_refusal().
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from apps.evidence.models import Artifact, Evidence
from apps.evidence.services import binding_refusal
from apps.ingest.models import Source


class AcceptRefused(Exception):
    """A delivery or upload refused before anything is stored. The API answers `status_code`
    with `{"error": str(exc), **extra}` (compliance_portal.api maps every exception that has both)."""

    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


class EffectiveTimeRefused(AcceptRefused):
    """effective_at is later than the receipt plus the allowed clock skew."""


class SourceBindingRefused(AcceptRefused):
    """A source bound to one system named a subject or a system of another."""

    status_code = 403


class IdempotencyConflict(AcceptRefused):
    """The same Idempotency-Key (or delivery id) came back with another body."""

    status_code = 409


def source_binding_check(*, source: Source, subject: str = "", system=None) -> None:
    """Refuse (403) what a bound source may not write: another system named at upload, or a subject
    another system owns. A subject no system owns is fine (a bound source's parse attaches it)."""
    if not source.system_id:
        return
    if system is not None and system.pk != source.system_id:
        raise SourceBindingRefused(
            f"source {source.name!r} is bound to system {source.system.slug}; "
            f"it may not write evidence for system {system.slug}"
        )
    if subject:
        owner = owned_by_other_system(Artifact.objects.filter(uri=subject), source.system_id).first()
        if owner is not None:
            raise SourceBindingRefused(binding_refusal(source.name, source.system.slug, subject, owner))


def owned_by_other_system(artifacts, system_id: int):
    """Slugs of the systems that own these artifacts, other than `system_id`.

    An artifact belongs to a system when that system's evidence is about it (it is the primary
    subject of evidence recorded for the system). A package that is merely listed in another
    system's SBOM, or a material named by its provenance, belongs to no one yet: shared
    dependencies stay writable, and the policy's counting rule keeps such evidence from counting
    where its source may not speak."""
    about = Evidence.objects.filter(subject_id=OuterRef("pk"), system_id=OuterRef("system_id"))
    return (
        artifacts.filter(Exists(about), system__isnull=False)
        .exclude(system_id=system_id)
        .values_list("system__slug", flat=True)
    )


def counted_sql(source_id: str, system_id: str) -> str:
    """SQL condition: evidence from source `source_id` counts for system `system_id` (both SQL expressions)."""
    # Only column expressions of our own constant SQL come in here, never values.
    return (
        f"EXISTS (SELECT 1 FROM ingest_source cs"  # noqa: S608
        f"  WHERE cs.id = {source_id} AND (cs.system_id = {system_id} "
        f"OR (cs.system_id IS NULL AND EXISTS (SELECT 1 FROM ingest_sourceallowance ca "
        f"WHERE ca.source_id = cs.id AND ca.system_id = {system_id}))))"
    )
