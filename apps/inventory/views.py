from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from apps.common.sorting import rank, sort_read
from apps.inventory.forms import SystemFilterForm, SystemForm
from apps.inventory.models import RiskTier, System
from apps.inventory.selectors import SystemFilters, system_get_for_user, system_list_for_user
from apps.inventory.services import system_save
from compliance_portal.csv_export import csv_response

PAGE_SIZE = 50
# The columns the list sorts by (?sort=); anything else keeps the default order.
SORT_COLUMNS = {
    "name": ("name",),
    "kind": ("kind", "name"),
    "tier": (rank("risk_tier", RiskTier.values), "name"),
}


@login_required
def system_list(request):
    form = SystemFilterForm(request.GET or None, user=request.user)
    filters = form.filters() if form.is_valid() else SystemFilters()
    sort = sort_read(request.GET, SORT_COLUMNS, default="name")
    systems = sort.apply(system_list_for_user(user=request.user, filters=filters))
    if request.GET.get("format") == "csv":
        return _systems_csv(request, systems)
    # Paged like the other lists; the count is exact (systems are hundreds, not millions).
    page = Paginator(systems, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "inventory/system_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    # "systems": the whole filtered list, unevaluated (the template reads only the page).
    return render(
        request, template, {"form": form, "page": page, "systems": systems, "query": query.urlencode(), "sort": sort}
    )


def _systems_csv(request, systems):
    """The whole filtered list (every page), streamed."""
    return csv_response(
        "systems.csv",
        ["slug", "name", "kind", "risk_tier", "data_classes", "frameworks", "environments", "risk_owners",
         "engineering_owners", "link"],
        (
            [s.slug, s.name, s.kind, s.risk_tier, " ".join(s.data_classes), " ".join(s.frameworks),
             " ".join(sorted(e.name for e in s.environments.all())),
             "; ".join(u.display_name for u in s.risk_owners.all()),
             "; ".join(u.display_name for u in s.engineering_owners.all()),
             request.build_absolute_uri(s.get_absolute_url())]
            for s in systems.iterator(chunk_size=200)
        ),
    )


def _system_form(request, system: System, *, title: str):
    form = SystemForm(request.POST or None, instance=system)
    if request.method == "POST" and form.is_valid():
        saved = system_save(
            actor=request.user,
            system=form.save(commit=False),
            risk_owners=form.cleaned_data["risk_owners"],
            engineering_owners=form.cleaned_data["engineering_owners"],
            environments=form.cleaned_data["environments"],
        )
        return redirect(saved)
    return render(request, "inventory/system_form.html", {"form": form, "system": system, "title": title})


@login_required
@permission_required("inventory.add_system", raise_exception=True)
def system_create(request):
    return _system_form(request, System(), title="New system")


@login_required
@permission_required("inventory.change_system", raise_exception=True)
def system_edit(request, slug):
    system = system_get_for_user(user=request.user, slug=slug)
    return _system_form(request, system, title=f"Edit {system.name}")
