from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from apps.accounts.roles import Role
from apps.accounts.scoping import scope_by_system
from apps.dashboard import charts
from apps.dashboard.home import home_sections_for
from apps.dashboard.pages import overview_context, release_chains_context, system_controls_context
from apps.inventory.models import System
from apps.inventory.selectors import system_get_for_user
from apps.ledger.selectors import ledger_timeline_for, ledger_visible_to
from apps.policy.forms import AsOfForm
from apps.policy.selectors import as_of_for_user

# What each role's home page says it is for, and what it will show as the portal grows.
ROLE_HOME = {
    Role.ADMIN: ("Operate the portal", "Sources, connectors and service health."),
    Role.COMPLIANCE_OFFICER: ("Run the programme", "Coverage, expiring exceptions and engagements."),
    Role.RISK_OWNER: ("Decide on risk", "Exceptions and releases waiting for your sign-off."),
    Role.ENGINEER: ("Ship with evidence", "Your systems, their failing controls and your requests."),
    Role.AUDITOR: ("Review evidence", "The systems and evidence of your engagements, read-only."),
}


@login_required
def home(request):
    user = request.user
    # Counts of the systems the user may see: an auditor's are those of their open engagements.
    systems = scope_by_system(user, System.objects.all(), "id")
    tier_counts = dict(systems.values_list("risk_tier").annotate(n=Count("id")).order_by())
    my_systems = System.objects.none()
    if user.has_role(Role.RISK_OWNER):
        my_systems = user.risk_owned_systems.all()
    elif user.has_role(Role.ENGINEER):
        my_systems = user.engineering_systems.all()
    cards = [ROLE_HOME[role] for role in Role.values if role in user.roles]
    as_of = as_of_for_user(user, AsOfForm(request.GET or None).day())
    return render(
        request,
        "dashboard/home.html",
        {
            "summary": {
                "systems": systems.count(),
                "high_risk": systems.filter(risk_tier__in=["high", "critical"]).count(),
                "ml_models": systems.filter(kind=System.Kind.ML_MODEL).count(),
            },
            "risk_chart": charts.systems_by_risk_tier(tier_counts),
            "my_systems": my_systems,
            "role_cards": cards,
            # each role's own work (apps.dashboard.home): an auditor's engagements, a risk owner's inbox…
            "home": home_sections_for(user),
            "as_of": as_of,
            # overview, its charts and trend table: cached until the rollups change (apps.dashboard.pages)
            **overview_context(user, as_of),
            # provenance, one row per release: its chain and the link it is missing (live, not cached)
            **release_chains_context(user, as_of),
        },
    )


@login_required
def system_detail(request, slug):
    """A system's page: its inventory record, its controls (policy) and its ledger timeline."""
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

