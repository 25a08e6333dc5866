"""Reads of manual evidence: which controls documents assess, their status per system (the rule that
reads documents), and what the control page shows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from apps.accounts.scoping import scope_by_system
from apps.attestations.models import Attestation, DocumentRequirement, ManualDocument
from apps.inventory.models import System
from apps.policy.models import ResultStatus


def manual_control_pks() -> set[int]:
    """Controls that documents assess (policy's manual assessment provider)."""
    return set(DocumentRequirement.objects.values_list("control_id", flat=True))


def _approved_as_of(at: datetime, system_ids) -> dict[tuple[int, int], ManualDocument]:
    """(system id, requirement id) -> the newest document approved by `at`, dated by `at`."""
    newest: dict[tuple[int, int], ManualDocument] = {}
    documents = ManualDocument.objects.filter(
        system_id__in=list(system_ids),
        status=ManualDocument.Status.APPROVED,
        decided_at__lte=at,
        document_date__lte=at,
    ).order_by("document_date", "pk")
    for document in documents:
        newest[(document.system_id, document.requirement_id)] = document  # ordered: the newest wins
    return newest


def requirement_status(requirement: DocumentRequirement, document: ManualDocument | None, at: datetime) -> str:
    """The rule that reads documents: pass while the newest approved document is within its cadence,
    fail once its review date has passed, missing when there is none."""
    if document is None:
        return ResultStatus.MISSING
    return ResultStatus.PASS if at < document.review_due(requirement.cadence_days) else ResultStatus.FAIL


def manual_control_statuses(system_ids, at: datetime | None = None) -> dict[int, dict[int, list[str]]]:
    """system id -> control pk -> one status per document requirement of the control (policy's manual status
    provider). A requirement applies to a system in scope for the control's framework, or one that has a
    document for it; it is judged as of `at` (now when None), so past days are recomputed truthfully."""
    at = at or timezone.now()
    system_ids = list(system_ids)
    out: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    if not system_ids:
        return out
    requirements = list(DocumentRequirement.objects.select_related("control__framework"))
    if not requirements:
        return out
    frameworks = dict(System.objects.filter(pk__in=system_ids).values_list("pk", "frameworks"))
    with_documents = set(
        ManualDocument.objects.filter(system_id__in=system_ids, uploaded_at__lte=at).values_list(
            "system_id", "requirement_id"
        )
    )
    newest = _approved_as_of(at, system_ids)
    for requirement in requirements:
        code = requirement.control.framework.code
        for system_id in system_ids:
            key = (system_id, requirement.pk)
            if code not in (frameworks.get(system_id) or []) and key not in with_documents:
                continue
            out[system_id][requirement.control_id].append(requirement_status(requirement, newest.get(key), at))
    return out


def control_manual_detail(*, user, control, at: datetime | None = None) -> dict:
    """What the control page shows about manual evidence, limited to the systems the user may see."""
    at = at or timezone.now()
    requirements = list(DocumentRequirement.objects.filter(control=control).select_related("owner"))
    systems = list(
        scope_by_system(user, System.objects.all(), system_field="pk")
        .filter(Q(frameworks__contains=[control.framework.code]) | Q(manual_documents__requirement__control=control))
        .distinct()
        .order_by("name")
    )
    ids = [s.pk for s in systems]
    newest = _approved_as_of(at, ids)
    rows = []
    for requirement in requirements:
        for system in systems:
            document = newest.get((system.pk, requirement.pk))
            rows.append({
                "requirement": requirement,
                "system": system,
                "document": document,
                "status": requirement_status(requirement, document, at),
                "review_due": document.review_due(requirement.cadence_days) if document else None,
            })  # fmt: skip
    documents = list(
        ManualDocument.objects.filter(requirement__control=control, system_id__in=ids)
        .select_related("requirement", "system", "uploaded_by", "decided_by")
        .order_by("-uploaded_at")[:50]
    )
    attestations = list(
        Attestation.objects.filter(control=control, system_id__in=ids).select_related("system", "attested_by")[:20]
    )
    return {"requirements": requirements, "systems": systems, "rows": rows, "documents": documents,
            "attestations": attestations}  # fmt: skip


def document_list_for_user(*, user):
    """Documents of the systems the user may see, newest first."""
    return (
        scope_by_system(user, ManualDocument.objects.all())
        .select_related("requirement__control__framework", "system", "uploaded_by", "decided_by")
        .order_by("-uploaded_at")
    )


def document_get_for_user(*, user, pk: int) -> ManualDocument:
    document = document_list_for_user(user=user).filter(pk=pk).first()
    if document is None:
        raise Http404("No such document, or you may not see it.")
    return document
