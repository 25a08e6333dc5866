"""What each role finds in the navigation. One table, read by the template and the tests."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from apps.accounts.roles import Role
from apps.dashboard.home import approvals_waiting_count
from apps.ledger.selectors import ledger_visible_to

ALL = frozenset(Role.values)


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str
    url_name: str
    roles: frozenset[str]
    url_kwargs: tuple[tuple[str, str], ...] = ()
    # Where the role is not enough (an auditor whose engagements all ended may not read the ledger):
    # the same check the page makes, so the menu never offers a page that answers 403.
    allowed: Callable[[object], bool] | None = None
    # A count shown next to the label (what waits there for this user), computed on the server, scoped.
    badge: Callable[[object], int] | None = None

    def url(self) -> str:
        return reverse(self.url_name, kwargs=dict(self.url_kwargs))


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("home", "Overview", "dashboard:home", ALL),
    NavEntry("systems", "Systems", "inventory:list", ALL),
    NavEntry("evidence", "Evidence", "evidence:list", ALL),
    NavEntry("controls", "Controls", "policy:control_list", ALL),
    NavEntry("exceptions", "Exceptions", "exceptions:list", ALL),
    NavEntry("approvals", "Approvals", "exceptions:inbox", frozenset({Role.RISK_OWNER, Role.COMPLIANCE_OFFICER}),
             badge=approvals_waiting_count),
    NavEntry("releases", "Release sign-off", "releases:list", ALL),
    NavEntry("retention", "Retention", "retention:report", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER})),
    NavEntry("packs", "Evidence packs", "packs:list", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR})),
    NavEntry("ledger", "Ledger", "ledger:list", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR}),
             allowed=ledger_visible_to),
    NavEntry("engagements", "Engagements", "engagements:list",
             frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR})),
    NavEntry("requests", "Evidence requests", "engagements:my_requests",
             frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER})),
    NavEntry("search", "Search", "search:search", ALL),
    NavEntry("sources", "Sources", "ingest:source_list", frozenset({Role.ADMIN})),
    NavEntry("admin", "Administration", "admin:index", frozenset({Role.ADMIN})),
)


def navigation_for(user) -> list[NavEntry]:
    if not user.is_authenticated:
        return []
    roles = user.roles | ({Role.ADMIN} if user.is_superuser else set())
    return [entry for entry in NAVIGATION
            if entry.roles & roles and (entry.allowed is None or entry.allowed(user))]


@dataclass(frozen=True)
class NavLink:
    """One rendered entry of the navigation: where it goes, and its badge count (0: none shown)."""

    key: str
    label: str
    url: str
    badge: int = 0


def navigation_links(user) -> list[NavLink]:
    """The user's navigation entries with their URLs and badges, as the base template shows them."""
    return [
        NavLink(entry.key, entry.label, entry.url(), entry.badge(user) if entry.badge else 0)
        for entry in navigation_for(user)
    ]
