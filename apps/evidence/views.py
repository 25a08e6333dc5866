
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import render

from apps.common.sorting import sort_read
from apps.evidence.forms import EvidenceFilterForm
from apps.evidence.lineage.chain import release_chain
from apps.evidence.lineage.views import lineage_context
from apps.evidence.models import Artifact
from apps.evidence.selectors import (
    BadCursor,
    Cursor,
    EvidenceFilters,
    artifact_evidence_for_user,
    artifact_get_for_user,
    artifact_lineage,
    evidence_counting,
    evidence_disposal,
    evidence_edges,
    evidence_get_for_user,
    evidence_kinds_for_user,
    evidence_list_for_user,
    evidence_page_for_user,
    evidence_records,
    evidence_subjects,
)
from apps.ledger.selectors import ledger_timeline_for, ledger_visible_to
from compliance_portal.csv_export import csv_response

PAGE_SIZE = 50
# Keyset pages need an order the index gives: effective time, either way (?sort=effective is oldest first).
SORT_COLUMNS = {"effective": ("effective_at",)}


@login_required
def evidence_list(request):
    form = EvidenceFilterForm(request.GET or None, user=request.user)
    filters = form.filters() if form.is_valid() else EvidenceFilters()
    if request.GET.get("format") == "csv":
        return _evidence_csv(request, filters)
    sort = sort_read(request.GET, SORT_COLUMNS, default="-effective")
    # Keyset pages (?after=/?before= a row's cursor) and a count bounded at COUNT_CAP: a page costs
    # the same at 10k and at 1M rows, and however far back it is (docs/architecture.md).
    try:
        after = Cursor.parse(request.GET["after"]) if request.GET.get("after") else None
        before = Cursor.parse(request.GET["before"]) if request.GET.get("before") else None
        page = evidence_page_for_user(
            user=request.user, filters=filters, after=after, before=before, size=PAGE_SIZE,
            oldest_first=not sort.descending,
        )  # fmt: skip
    except BadCursor as exc:
        return HttpResponseBadRequest(f"Bad page cursor: {exc}.\n", content_type="text/plain; charset=utf-8")
    query = request.GET.copy()
    for key in ("after", "before", "page"):  # "page" was the old page number: no longer read
        query.pop(key, None)
    template = "evidence/evidence_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "kinds": evidence_kinds_for_user(user=request.user),
            "query": query.urlencode(),
            "sort": sort,
        },
    )


def _evidence_csv(request, filters: EvidenceFilters):
    rows = evidence_list_for_user(user=request.user, filters=filters).iterator(chunk_size=1000)
    return csv_response(
        "evidence.csv",
        ["id", "title", "verdict", "kind", "system", "subject", "source", "effective_at", "received_at", "sha256",
         "link"],
        (
            [e.pk, e.title, e.verdict, e.kind, e.system.slug if e.system else "", e.subject.uri if e.subject else "",
             e.source.name, e.effective_at.isoformat(), e.received_at.isoformat(), e.sha256,
             request.build_absolute_uri(e.get_absolute_url())]
            for e in rows
        ),
    )


@login_required
def evidence_detail(request, pk: int):
    evidence = evidence_get_for_user(user=request.user, pk=pk)
    records, records_total = evidence_records(evidence)
    others = []
    if evidence.subject_id:
        others = [
            e
            for e in artifact_evidence_for_user(user=request.user, artifact=evidence.subject, limit=21)
            if e.pk != evidence.pk
        ][:20]
    counted, not_counted_reason = evidence_counting(evidence)
    return render(
        request,
        "evidence/evidence_detail.html",
        {
            "evidence": evidence,
            "counted": counted,
            "not_counted_reason": not_counted_reason,
            "receipt": evidence.receipt,
            "subjects": evidence_subjects(evidence),
            "edges": evidence_edges(evidence),
            "records": records,
            "records_total": records_total,
            "others": others,
            "superseded": evidence.generation != evidence.receipt.generation,
            "timeline": ledger_timeline_for(evidence),
            "show_ledger_links": ledger_visible_to(request.user),
            # disposed raw bodies answer 410: say so instead of offering the download
            "disposal": evidence_disposal(evidence),
        },
    )


@login_required
def artifact_detail(request, pk: int):
    artifact = artifact_get_for_user(user=request.user, pk=pk)
    return render(
        request,
        "evidence/artifact_detail.html",
        {
            "artifact": artifact,
            "evidence_list": artifact_evidence_for_user(user=request.user, artifact=artifact),
            "lineage": artifact_lineage(artifact, user=request.user),
            "release_chain": (
                release_chain(user=request.user, release=artifact) if artifact.kind == Artifact.Kind.RELEASE else None
            ),
            **lineage_context(request, artifact),
        },
    )
