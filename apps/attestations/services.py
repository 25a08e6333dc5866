"""Writes of manual evidence: loading requirements, uploading and deciding documents, attesting.

Uploads go through ingest's `receipt_accept` (blob, Receipt, ledger, parse into Evidence after
commit, retention): a document is evidence like any other, with a row here saying which control
and system it answers. Every state move is its own service with its ledger entry in the same
transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.reauth import ensure_recent_reauth
from apps.attestations.models import Attestation, DocumentKind, DocumentRequirement, ManualDocument
from apps.common.policy_files import policy_toml
from apps.ingest.models import Receipt
from apps.ingest.services import portal_upload_source, receipt_accept
from apps.inventory.models import System
from apps.ledger.services import ledger_record
from apps.policy.models import Control

logger = logging.getLogger(__name__)

SHIPPED = Path(__file__).with_name("requirements.toml")
UPLOAD_SOURCE = "Portal uploads (control documents)"


# ---------------------------------------------------------------- requirements


def requirements_read(path: Path = SHIPPED) -> list[dict]:
    """The requirements file as a list of {control, kind, cadence_days, description}; ValidationError if malformed."""
    data = policy_toml(path.read_text(encoding="utf-8"), what="document requirements", source=path.name)
    rows = []
    for i, item in enumerate(data.get("requirement", [])):
        where = f"{path.name}: requirement {i + 1}"
        if item.get("kind") not in DocumentKind.values:
            raise ValidationError(f"{where}: kind {item.get('kind')!r} is not one of {', '.join(DocumentKind.values)}")
        cadence = item.get("cadence_days", 365)
        if not isinstance(cadence, int) or cadence < 1:
            raise ValidationError(f"{where}: cadence_days must be a positive whole number of days")
        if ":" not in str(item.get("control", "")):
            raise ValidationError(f"{where}: control must be '<framework code>:<control id>'")
        rows.append({"control": item["control"], "kind": item["kind"], "cadence_days": cadence,
                     "description": item.get("description", "")})  # fmt: skip
    return rows


def requirements_load(path: Path = SHIPPED) -> int:
    """Add the file's requirements that are missing (edits made in the admin are kept); returns how many were added.

    Runs after every migrate (and test flush), so it records no ledger entry: the file is part of the release."""
    added = 0
    for row in requirements_read(path):
        control = Control.objects.for_ref(row["control"]).first()
        if control is None:
            logger.warning("document requirement for %s skipped: no such control is loaded", row["control"])
            continue
        _, created = DocumentRequirement.objects.get_or_create(
            control=control,
            kind=row["kind"],
            defaults={"cadence_days": row["cadence_days"], "description": row["description"],
                      "origin": DocumentRequirement.Origin.FILE},
        )  # fmt: skip
        added += created
    return added


@transaction.atomic
def requirement_owner_set(*, actor, requirement_id: int, owner) -> DocumentRequirement:
    """Name who approves a requirement's documents and attests for its control (a compliance officer decides)."""
    if not _is_officer(actor):
        raise PermissionDenied("Only a compliance officer names the owner of a document requirement.")
    requirement = DocumentRequirement.objects.select_for_update().select_related("control").get(pk=requirement_id)
    if requirement.owner_id == owner.pk:
        return requirement
    previous = requirement.owner.username if requirement.owner else None
    requirement.owner = owner
    requirement.save(update_fields=["owner"])
    ledger_record(
        actor=actor,
        action="document_requirement.owner_set",
        target=requirement,
        data={"control": requirement.control.ref, "kind": requirement.kind, "owner": owner.username,
              "previous": previous},
    )  # fmt: skip
    return requirement


# ---------------------------------------------------------------- documents


def _is_officer(user) -> bool:
    return bool(user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER))


def can_upload(user, system: System) -> bool:
    """Anyone who may see the system and is not a read-only auditor may provide a document for it."""
    return bool(getattr(user, "is_authenticated", False)) and not is_read_only(user) and can_see_system(user, system.pk)


def can_decide(user, document: ManualDocument) -> bool:
    """The requirement's owner or a compliance officer, never the person who uploaded it."""
    if document.uploaded_by_id == user.pk:
        return False
    return document.requirement.owner_id == user.pk or _is_officer(user)


@dataclass(frozen=True)
class DocumentUpload:
    """What the form and the API hand to `document_upload`."""

    body: bytes
    filename: str
    content_type: str
    title: str
    document_date: datetime | None = None


@transaction.atomic
def document_upload(*, actor, requirement_id: int, system: System, upload: DocumentUpload) -> ManualDocument:
    """Accept a document for a control's requirement on a system: kept and parsed as evidence, then submitted."""
    requirement = DocumentRequirement.objects.select_related("control__framework").get(pk=requirement_id)
    if not can_upload(actor, system):
        raise PermissionDenied("You cannot provide documents for this system.")
    if not upload.body:
        raise ValidationError({"file": ["the file is empty"]})
    limit = settings.PORTAL_INGEST_MAX_BYTES
    if len(upload.body) > limit:
        raise ValidationError({"file": [f"the file is {len(upload.body)} bytes; this portal accepts at most {limit}"]})
    title = (upload.title or "").strip()
    if not title:
        raise ValidationError({"title": ["say what the document is"]})
    now = timezone.now()
    # A date the sender chooses never extends freshness: a document dated after its upload counts from the upload.
    document_date = min(upload.document_date or now, now)
    receipt, _ = receipt_accept(
        source=portal_upload_source(name=UPLOAD_SOURCE, actor="system:document_upload"),
        channel=Receipt.Channel.UPLOAD,
        body=upload.body,
        content_type=(upload.content_type or "")[:200],
        filename=(upload.filename or "")[:255],
        system=system,
        effective_at=document_date,
        headers={"uploaded_by": actor.username, "control": requirement.control.ref, "document_kind": requirement.kind},
    )
    document = ManualDocument.objects.create(
        requirement=requirement,
        system=system,
        receipt=receipt,
        sha256=receipt.sha256,
        title=title[:300],
        document_date=document_date,
        uploaded_by=actor,
        uploaded_at=now,
    )
    ledger_record(
        actor=actor,
        action="manual_document.uploaded",
        target=document,
        data={"control": requirement.control.ref, "kind": requirement.kind, "system": system.slug,
              "receipt": receipt.pk, "sha256": receipt.sha256, "document_date": document_date.isoformat()},
    )  # fmt: skip
    return document


def _decide(
    *, actor, document_id: int, to: str, action: str, reason: str = "", reason_required: bool = False
) -> ManualDocument:
    document = ManualDocument.objects.select_for_update().select_related("requirement").get(pk=document_id)
    if not can_decide(actor, document):
        raise PermissionDenied(
            "Only the requirement's owner or a compliance officer decides on a document, and never on their own upload."
        )
    if reason_required and not reason.strip():
        raise ValidationError({"reason": ["say why the document is rejected"]})
    document.ensure_can_move_to(to)
    document.status, document.decided_by, document.decided_at = to, actor, timezone.now()
    document.save(update_fields=["status", "decided_by", "decided_at"])
    ledger_record(
        actor=actor, action=action, target=document, data={"sha256": document.sha256, "reason": reason[:2000]}
    )
    return document


@transaction.atomic
def document_approve(*, actor, document_id: int) -> ManualDocument:
    """Approve a submitted document: from now on it counts for its control until its review date."""
    return _decide(actor=actor, document_id=document_id, to=ManualDocument.Status.APPROVED,
                   action="manual_document.approved")  # fmt: skip


@transaction.atomic
def document_reject(*, actor, document_id: int, reason: str) -> ManualDocument:
    """Reject a submitted document, saying why."""
    return _decide(actor=actor, document_id=document_id, to=ManualDocument.Status.REJECTED,
                   action="manual_document.rejected", reason=reason, reason_required=True)  # fmt: skip


# ---------------------------------------------------------------- attestations


@dataclass(frozen=True)
class AttestationInput:
    control_id: int
    system: System
    period_start: datetime
    period_end: datetime
    statement: str
    document_ids: tuple[int, ...]


@transaction.atomic
def attestation_record(
    *, actor, data: AttestationInput, reauthenticated_at: datetime | None, now: datetime | None = None
) -> Attestation:
    """The control's owner states that it operated on the system during a period, bound to the digests of
    the approved documents it relies on; after step-up re-authentication."""
    now = now or timezone.now()
    control = Control.objects.select_related("framework").get(pk=data.control_id)
    owners = set(DocumentRequirement.objects.filter(control=control).values_list("owner_id", flat=True))
    if actor.pk not in owners:
        raise PermissionDenied("Only the owner of this control's document requirements attests that it operated.")
    ensure_recent_reauth(reauthenticated_at, now=now)
    if not data.statement.strip():
        raise ValidationError({"statement": ["say what you attest"]})
    if not data.period_start < data.period_end:
        raise ValidationError({"period_end": ["the period must end after it starts"]})
    if data.period_end > now:
        raise ValidationError({"period_end": ["an attestation speaks about a period that has ended"]})
    ids = sorted(set(data.document_ids))
    if not ids:
        raise ValidationError({"documents": ["name the approved documents this attestation relies on"]})
    documents = list(
        ManualDocument.objects.filter(
            pk__in=ids, requirement__control=control, system=data.system, status=ManualDocument.Status.APPROVED
        )
    )
    if len(documents) != len(ids):
        raise ValidationError(
            {"documents": ["each document must be an approved document of this control for this system"]}
        )
    digests = sorted({d.sha256 for d in documents})
    attestation = Attestation.objects.create(
        control=control,
        system=data.system,
        attested_by=actor,
        period_start=data.period_start,
        period_end=data.period_end,
        statement=data.statement.strip(),
        digests=digests,
        reauthenticated_at=reauthenticated_at,
        created_at=now,
    )
    attestation.documents.set(documents)
    ledger_record(
        actor=actor,
        action="attestation.recorded",
        target=attestation,
        data={"control": control.ref, "system": data.system.slug, "period_start": data.period_start.isoformat(),
              "period_end": data.period_end.isoformat(), "digests": digests, "documents": ids,
              "statement": attestation.statement[:2000]},
    )  # fmt: skip
    return attestation
