import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_date

from apps.common.sorting import sort_read
from apps.ledger.models import LedgerEntry
from apps.ledger.scoping import (
    ledger_entries_visible_to,
    ledger_entry_for_user,
    ledger_object_links,
    ledger_object_types,
)
from apps.ledger.selectors import ledger_action_names, ledger_entry_list, ledger_visible_to
from apps.ledger.services import entry_bundle, latest_checkpoint, trusted_verifier_keys

# The columns the list sorts by (?sort=); the index is the log's order (time ties break by it).
SORT_COLUMNS = {
    "index": ("index",),
    "actor": ("actor_label", "index"),
    "action": ("action", "index"),
    "object": ("object_type", "object_id", "index"),
}


def _require_ledger_role(user):
    if not ledger_visible_to(user):
        raise PermissionDenied("The ledger is for compliance officers, auditors and admins.")


@login_required
def entry_list(request):
    _require_ledger_role(request.user)
    params = {key: request.GET.get(key, "").strip() for key in ("actor", "action", "object_type", "object_id")}
    object_types = ledger_object_types()
    if params["object_type"] and params["object_type"] not in dict(object_types):
        known = ", ".join(t for t, _name in object_types)
        return JsonResponse({"error": f"object_type must be one of: {known}"}, status=400)
    since = parse_date(request.GET.get("since", "") or "") if request.GET.get("since") else None
    until = parse_date(request.GET.get("until", "") or "") if request.GET.get("until") else None
    # A scoped auditor lists only the entries about objects of their engagements: the ledger names
    # every system, and an auditor may see only theirs.
    sort = sort_read(request.GET, SORT_COLUMNS, default="-index")
    entries = ledger_entries_visible_to(request.user, ledger_entry_list(**params, since=since, until=until))
    entries = sort.apply(entries, tiebreak="")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    links = ledger_object_links(request.user, page.object_list)
    for entry in page.object_list:
        entry.link = links.get((entry.object_type, entry.object_id))
    template = "ledger/entry_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(
        request,
        template,
        {
            "page": page,
            "filters": {**params, "since": request.GET.get("since", ""), "until": request.GET.get("until", ""),
                        "sort": request.GET.get("sort", "")},
            "sort": sort,
            "actions": ledger_action_names(),
            "object_types": object_types,
            "checkpoint": latest_checkpoint(),
            "verifier_keys": trusted_verifier_keys(),
        },
    )


@login_required
def entry_detail(request, index: int):
    _require_ledger_role(request.user)
    entry = get_object_or_404(LedgerEntry, index=index)
    readable = ledger_entry_for_user(request.user, entry)
    bundle = entry_bundle(entry)
    bundle["leaf_hash"] = readable["leaf_hash"]
    if readable["redacted"]:
        # Out of the auditor's scope: the index, the leaf hash and the proof (which needs only the
        # leaf hash), never the entry's bytes.
        bundle["entry"] = None
    if request.GET.get("format") == "json":
        response = JsonResponse(bundle, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="ledger-entry-{index}.json"'
        return response
    if readable["redacted"]:
        return render(request, "ledger/entry_redacted.html", {"index": index, "bundle": bundle})
    pretty = json.dumps(json.loads(bytes(entry.canonical)), indent=2, ensure_ascii=False)
    return render(request, "ledger/entry_detail.html", {"entry": entry, "bundle": bundle, "pretty": pretty})
