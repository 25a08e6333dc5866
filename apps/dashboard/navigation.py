"""What each role finds in the navigation. One table, read by the template and the tests.

Entries whose page a later issue builds point to a placeholder page that says so.
"""

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


def _placeholder(key: str, label: str, roles) -> NavEntry:
    return NavEntry(key, label, "dashboard:placeholder", frozenset(roles), (("page", key),))


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("home", "Overview", "dashboard:home", ALL),
    NavEntry("systems", "Systems", "inventory:list", ALL),
    NavEntry("evidence", "Evidence", "evidence:list", ALL),
    _placeholder("controls", "Controls", ALL),
    _placeholder(
        "exceptions", "Exceptions", {Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER, Role.AUDITOR}
    ),
    _placeholder("approvals", "Approvals", {Role.RISK_OWNER, Role.COMPLIANCE_OFFICER}),
    _placeholder("packs", "Evidence packs", {Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR}),
    NavEntry("ledger", "Ledger", "ledger:list", frozenset({Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR})),
    _placeholder("engagements", "Engagements", {Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR}),
    NavEntry("sources", "Sources", "ingest:source_list", frozenset({Role.ADMIN})),
    NavEntry("admin", "Administration", "admin:index", frozenset({Role.ADMIN})),
)

# Which issue builds each placeholder page, shown on it so nobody mistakes it for the feature.
PLACEHOLDERS: dict[str, str] = {
    "controls": "Controls and coverage arrive with policy as code (issue #5).",
    "exceptions": "Exceptions arrive with the exception workflow (issue #6).",
    "approvals": "The approval inbox arrives with the exception workflow (issue #6).",
    "packs": "Evidence packs arrive with the packs issue (#8).",
    "engagements": "Audit engagements arrive with auditor access (issue #9).",
}


def navigation_for(user) -> list[NavEntry]:
    if not user.is_authenticated:
        return []
    roles = user.roles | ({Role.ADMIN} if user.is_superuser else set())
    return [entry for entry in NAVIGATION if entry.roles & roles]
