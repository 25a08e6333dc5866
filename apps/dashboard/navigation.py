"""What each role finds in the navigation. One table, read by the template and the tests."""

from dataclasses import dataclass

from django.urls import reverse

from apps.accounts.roles import Role

ALL = frozenset(Role.values)


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str
    url_name: str
    roles: frozenset[str]
    url_kwargs: tuple[tuple[str, str], ...] = ()

    def url(self) -> str:
        return reverse(self.url_name, kwargs=dict(self.url_kwargs))


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("home", "Overview", "dashboard:home", ALL),
    NavEntry("systems", "Systems", "inventory:list", ALL),
    NavEntry("evidence", "Evidence", "evidence:list", ALL),
    NavEntry("controls", "Controls", "policy:control_list", ALL),
    NavEntry("exceptions", "Exceptions", "exceptions:list", ALL),
    NavEntry("approvals", "Approvals", "exceptions:inbox", frozenset({Role.RISK_OWNER, Role.COMPLIANCE_OFFICER})),
    NavEntry("releases", "Release sign-off", "releases:list", ALL),
    NavEntry("retention", "Retention", "retention:report", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER})),
    NavEntry("packs", "Evidence packs", "packs:list", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR})),
    NavEntry("ledger", "Ledger", "ledger:list", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR})),
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
    return [entry for entry in NAVIGATION if entry.roles & roles]
