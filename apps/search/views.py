from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import render

from apps.search.registry import TARGETS, search_all_for_user, search_page_for_user
from compliance_portal.csv_export import csv_response


def page_number(value: str | None) -> int | None:
    """The `page` parameter: a positive integer (absent: 1), or None when it is not one."""
    if value in (None, ""):
        return 1
    try:
        page = int(value)
    except ValueError:
        return None
    return page if 1 <= page <= 10_000 else None


@login_required
def search(request):
    """One search box over everything the user may see; the URL is the permalink of the search."""
    text = request.GET.get("q", "")
    kinds = [k for k in request.GET.getlist("kind") if k in TARGETS]
    if request.GET.get("format") == "csv":
        hits = search_all_for_user(user=request.user, text=text, kinds=kinds or None)
        return csv_response(
            "search.csv",
            ["kind", "title", "detail", "link"],
            ([h.kind, h.title, h.detail, request.build_absolute_uri(h.url)] for h in hits),
        )
    page = page_number(request.GET.get("page"))
    if page is None:
        return HttpResponseBadRequest("page must be a whole number from 1 to 10000.")
    results = search_page_for_user(user=request.user, text=text, kinds=kinds or None, page=page)
    template = "search/search.html"
    if request.htmx and not request.htmx.boosted:
        template += "#hits"
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        template,
        {
            "q": text,
            "results": results,
            "hits": results.hits,
            "targets": TARGETS.values(),
            "kinds": kinds,
            "query": params.urlencode(),
        },
    )
