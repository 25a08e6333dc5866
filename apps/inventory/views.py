from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render

from apps.inventory.forms import SystemForm
from apps.inventory.models import System
from apps.inventory.selectors import system_get_for_user, system_list_for_user
from apps.inventory.services import system_save
from apps.ledger.selectors import ledger_timeline_for, ledger_visible_to
from apps.policy.views import system_controls_context


@login_required
def system_list(request):
    systems = system_list_for_user(user=request.user)
    return render(request, "inventory/system_list.html", {"systems": systems})


@login_required
def system_detail(request, slug):
    system = system_get_for_user(user=request.user, slug=slug)
    return render(
        request,
        "inventory/system_detail.html",
        {
            "system": system,
            "timeline": ledger_timeline_for(system),
            "show_ledger_links": ledger_visible_to(request.user),
            **system_controls_context(request, system),
        },
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
