from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.search.registry import TARGETS, search_for_user
from compliance_portal.csv_export import csv_response


@login_required
def search(request):
    """One search box over everything the user may see; the URL is the permalink of the search."""
    text = request.GET.get("q", "")
    kinds = [k for k in request.GET.getlist("kind") if k in TARGETS]
    hits = search_for_user(user=request.user, text=text, kinds=kinds or None)
    if request.GET.get("format") == "csv":
        return csv_response(
            "search.csv",
            ["kind", "title", "detail", "link"],
            ([h.kind, h.title, h.detail, request.build_absolute_uri(h.url)] for h in hits),
        )
    template = "search/search.html"
    if request.htmx and not request.htmx.boosted:
        template += "#hits"
    return render(
        request,
        template,
        {"q": text, "hits": hits, "targets": TARGETS.values(), "kinds": kinds, "query": request.GET.urlencode()},
    )
