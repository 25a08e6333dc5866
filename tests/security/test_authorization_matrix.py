"""Authorization everywhere: every URL of the URL configuration × every kind of person.

The table below is written by hand from what each page and endpoint is *meant* to allow
(DESIGN.md's roles, the issue, the views' docstrings) — never computed from the code under
test. `test_every_url_is_in_the_table` walks `get_resolver().url_patterns` recursively and
fails when a route exists that the table does not mention, so a new endpoint cannot escape
it: add a row (with its expected statuses) when you add a URL.

Columns: anonymous, platform admin, compliance officer, risk owner, engineer (the assignee
of the evidence request), and three auditors: one in an open engagement covering the
objects used (in scope), one in an open engagement on another system (out of scope) and
one whose engagement on these objects has ended (outside the window).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from apps.accounts.roles import Role
from apps.engagements.services import evidence_request_create, sample_draw
from apps.ledger.services import ledger_integrate_all
from tests.engagements.conftest import person, world_build

pytestmark = pytest.mark.django_db

WHO = ("anon", "admin", "officer", "risk_owner", "engineer", "auditor_in", "auditor_out", "auditor_ended")
# Shorthands for the statuses in the table.
LOGIN = 302  # sent to the sign-in page (or, after a POST, redirected back)
OK, CREATED, MOVED, BAD, UNAUTH, DENY, GONE, NOPE = 200, 201, 302, 400, 401, 403, 404, 405
HEALTH = (200, 503)  # public; 503 while no worker answers (the test has none)

# (route as in the URL configuration, method, concrete path, expected status per WHO)
# Paths use {placeholders} filled from the world below. "admin/*" covers Django's admin site.
TABLE: list[tuple[str, str, str, tuple]] = [
    ("healthz", "GET", "/healthz", (HEALTH,) * 8),
    # ---- published for third-party verification (issue 19): public, no data in them
    (".well-known/compliance-portal/keys.json", "GET", "/.well-known/compliance-portal/keys.json", (OK,) * 8),
    ("verify/", "GET", "/verify/", (OK,) * 8),
    ("verify/compliance_verify.py", "GET", "/verify/compliance_verify.py", (OK,) * 8),
    # ---- accounts
    ("accounts/login/", "GET", "/accounts/login/", (OK, MOVED, MOVED, MOVED, MOVED, MOVED, MOVED, MOVED)),
    ("accounts/logout/", "POST", "/accounts/logout/", (MOVED,) * 8),
    ("accounts/logout/", "GET", "/accounts/logout/", (NOPE,) * 8),
    ("accounts/mfa/", "GET", "/accounts/mfa/", (LOGIN, MOVED, MOVED, MOVED, MOVED, MOVED, MOVED, MOVED)),
    ("accounts/mfa/setup/", "GET", "/accounts/mfa/setup/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("accounts/notifications/", "GET", "/accounts/notifications/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("accounts/notifications/read/", "POST", "/accounts/notifications/read/", (LOGIN,) + (MOVED,) * 7),
    ("accounts/notifications/read/", "GET", "/accounts/notifications/read/", (NOPE,) * 8),
    # ---- inventory
    ("systems/", "GET", "/systems/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("systems/new/", "GET", "/systems/new/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("systems/<slug:slug>/", "GET", "/systems/{system}/", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("systems/<slug:slug>/", "GET", "/systems/{system_out}/", (LOGIN, OK, OK, OK, OK, GONE, OK, GONE)),
    ("systems/<slug:slug>/edit/", "GET", "/systems/{system}/edit/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    # ---- ledger: admins, officers, and auditors only while an engagement is open
    ("ledger/", "GET", "/ledger/", (LOGIN, OK, OK, DENY, DENY, OK, OK, DENY)),
    ("ledger/<int:index>/", "GET", "/ledger/{ledger_index}/", (LOGIN, OK, OK, DENY, DENY, OK, OK, DENY)),
    # Issue 19: an auditor's out-of-scope entry answers 200 with its index and leaf hash only (PAYLOAD below)
    ("ledger/<int:index>/", "GET", "/ledger/{ledger_exception}/", (LOGIN, OK, OK, DENY, DENY, OK, OK, DENY)),
    ("ledger/<int:index>/", "GET", "/ledger/{ledger_exception}/?format=json",
     (LOGIN, OK, OK, DENY, DENY, OK, OK, DENY)),
    ("ledger/", "GET", "/ledger/?action=exception.created", (LOGIN, OK, OK, DENY, DENY, OK, OK, DENY)),
    ("api/v1/ledger/checkpoints", "GET", "/api/v1/ledger/checkpoints", (DENY, OK, OK, DENY, DENY, OK, OK, DENY)),
    ("api/v1/ledger/consistency", "GET", "/api/v1/ledger/consistency?first=1&second={ledger_size}",
     (DENY, OK, OK, DENY, DENY, OK, OK, DENY)),
    # an auditor's export holds in full only their scope's entries (test_ledger_scoping.py)
    ("api/v1/ledger/entries", "GET", "/api/v1/ledger/entries?end=3", (DENY, OK, OK, DENY, DENY, OK, OK, DENY)),
    # ---- evidence
    ("evidence/", "GET", "/evidence/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("evidence/", "GET", "/evidence/?format=csv", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    # issue 21: filtered to a control (by Control.ref) and to an engagement's systems and window; the auditors'
    # pages of these are read for names of the other system by test_auditor_scope_content.py
    ("evidence/", "GET", "/evidence/?control=soc2:soc2-cc8-1", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("evidence/", "GET", "/evidence/?system={system}&since=2000-01-01&until=2100-01-01",
     (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("evidence/<int:pk>/", "GET", "/evidence/{evidence}/", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("evidence/<int:pk>/", "GET", "/evidence/{evidence_old}/", (LOGIN, OK, OK, OK, OK, GONE, GONE, GONE)),
    ("evidence/<int:pk>/", "GET", "/evidence/{evidence_out}/", (LOGIN, OK, OK, OK, OK, GONE, OK, GONE)),
    ("evidence/<int:pk>/raw", "GET", "/evidence/{evidence}/raw", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("evidence/<int:pk>/raw", "GET", "/evidence/{evidence_old}/raw", (LOGIN, OK, OK, OK, OK, GONE, GONE, GONE)),
    ("evidence/artifacts/<int:pk>/", "GET", "/evidence/artifacts/{artifact}/",
     (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    # ---- engagements
    ("engagements/", "GET", "/engagements/", (LOGIN, OK, OK, DENY, DENY, OK, OK, OK)),
    ("engagements/new/", "GET", "/engagements/new/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("engagements/requests/", "GET", "/engagements/requests/", (LOGIN, OK, OK, OK, OK, DENY, DENY, DENY)),
    ("engagements/<int:pk>/", "GET", "/engagements/{engagement}/", (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/", "GET", "/engagements/{engagement_ended}/",
     (LOGIN, OK, OK, GONE, GONE, GONE, GONE, GONE)),
    ("engagements/<int:pk>/end/", "POST", "/engagements/{engagement}/end/",
     (LOGIN, MOVED, MOVED, GONE, GONE, DENY, GONE, GONE)),
    ("engagements/<int:pk>/end/", "GET", "/engagements/{engagement}/end/", (NOPE,) * 8),
    ("engagements/<int:pk>/consistency.json", "GET", "/engagements/{engagement}/consistency.json",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/access/", "GET", "/engagements/{engagement}/access/",
     (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("engagements/<int:pk>/requests/new/", "GET", "/engagements/{engagement}/requests/new/",
     (LOGIN, DENY, DENY, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/requests/<int:request_pk>/", "GET", "/engagements/{engagement}/requests/{request}/",
     (LOGIN, OK, OK, GONE, OK, OK, GONE, GONE)),
    ("engagements/<int:pk>/requests/<int:request_pk>/answer/", "POST",
     "/engagements/{engagement}/requests/{request}/answer/", (LOGIN, MOVED, MOVED, GONE, MOVED, DENY, GONE, GONE)),
    ("engagements/<int:pk>/requests/<int:request_pk>/accept/", "POST",
     "/engagements/{engagement}/requests/{request}/accept/", (LOGIN, DENY, DENY, GONE, DENY, MOVED, GONE, GONE)),
    ("engagements/<int:pk>/requests/<int:request_pk>/reopen/", "POST",
     "/engagements/{engagement}/requests/{request}/reopen/", (LOGIN, DENY, DENY, GONE, DENY, MOVED, GONE, GONE)),
    # The per-control workspace and its workpaper: the engagement's auditors and managers only.
    ("engagements/<int:pk>/controls/<str:control>/", "GET", "/engagements/{engagement}/controls/soc2:soc2-cc8-1/",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/workpaper.xlsx", "GET", "/engagements/{engagement}/workpaper.xlsx",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    # Flags: only the engagement's working auditor raises or re-reviews one; the system's owners answer (an
    # empty form from one who may is sent back to the page with its error: 302). The matrix's engineer owns
    # no system, so a thread is not theirs to see (404).
    ("engagements/<int:pk>/controls/<str:control>/flags/", "POST",
     "/engagements/{engagement}/controls/soc2:soc2-cc8-1/flags/", (LOGIN, DENY, DENY, GONE, GONE, MOVED, GONE, GONE)),
    ("engagements/<int:pk>/flags/<int:flag_pk>/", "GET", "/engagements/{engagement}/flags/{flag}/",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/flags/<int:flag_pk>/answer/", "POST", "/engagements/{engagement}/flags/{flag}/answer/",
     (LOGIN, MOVED, MOVED, GONE, GONE, DENY, GONE, GONE)),
    ("engagements/<int:pk>/flags/<int:flag_pk>/review/", "POST", "/engagements/{engagement}/flags/{flag}/review/",
     (LOGIN, DENY, DENY, GONE, GONE, MOVED, GONE, GONE)),
    ("engagements/<int:pk>/reviews/", "GET", "/engagements/{engagement}/reviews/",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/reviews/<int:evidence_pk>/", "POST", "/engagements/{engagement}/reviews/{evidence}/",
     (LOGIN, DENY, DENY, GONE, GONE, MOVED, GONE, GONE)),
    ("engagements/<int:pk>/samples/", "POST", "/engagements/{engagement}/samples/",
     (LOGIN, DENY, DENY, GONE, GONE, MOVED, GONE, GONE)),
    ("engagements/<int:pk>/samples/<int:sample_pk>/", "GET", "/engagements/{engagement}/samples/{sample}/",
     (LOGIN, OK, OK, GONE, GONE, OK, GONE, GONE)),
    ("engagements/<int:pk>/samples/<int:sample_pk>/items/<int:item_pk>/", "POST",
     "/engagements/{engagement}/samples/{sample}/items/{sample_item}/",
     (LOGIN, DENY, DENY, GONE, GONE, MOVED, GONE, GONE)),
    # ---- release sign-off: everyone reads (auditors within their engagements); auditors never write
    ("releases/", "GET", "/releases/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("releases/classify/", "GET", "/releases/classify/", (LOGIN, OK, OK, OK, OK, DENY, DENY, DENY)),
    ("releases/<int:pk>/", "GET", "/releases/{signoff}/", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("releases/<int:pk>/decide/", "POST", "/releases/{signoff}/decide/", (LOGIN, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),
    ("releases/<int:pk>/classify/", "POST", "/releases/{signoff}/classify/",
     (LOGIN, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),
    # ---- retention and legal holds: compliance officers and platform admins only
    ("retention/", "GET", "/retention/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("retention/holds/new/", "GET", "/retention/holds/new/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("retention/holds/<int:pk>/", "GET", "/retention/holds/{hold}/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("retention/holds/<int:pk>/release/", "POST", "/retention/holds/{hold}/release/",
     (LOGIN, BAD, BAD, DENY, DENY, DENY, DENY, DENY)),
    ("retention/systems/<slug:slug>/data-policy/", "POST", "/retention/systems/{system}/data-policy/",
     (LOGIN, MOVED, MOVED, DENY, DENY, DENY, DENY, DENY)),
    # ---- exceptions: everyone reads (auditors within their engagements); engineers, risk owners and
    # compliance officers request; the chain decides; compliance officers revoke. {exception} is a pending
    # low-tier exception on a soc2 control of the in-scope system, requested by the compliance officer
    # inside the engagement's observation window.
    ("exceptions/", "GET", "/exceptions/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("exceptions/", "GET", "/exceptions/?format=csv", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("exceptions/new/", "GET", "/exceptions/new/", (LOGIN, DENY, OK, OK, OK, DENY, DENY, DENY)),
    ("exceptions/inbox/", "GET", "/exceptions/inbox/", (LOGIN, DENY, OK, OK, DENY, DENY, DENY, DENY)),
    ("exceptions/reauthenticate/", "GET", "/exceptions/reauthenticate/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("approvals/reauthenticate/", "GET", "/approvals/reauthenticate/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("exceptions/<int:pk>/", "GET", "/exceptions/{exception}/", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("exceptions/<int:pk>/edit/", "GET", "/exceptions/{exception}/edit/",
     (LOGIN, DENY, OK, DENY, DENY, DENY, GONE, GONE)),
    ("exceptions/<int:pk>/submit/", "POST", "/exceptions/{exception}/submit/",
     (LOGIN, DENY, MOVED, DENY, DENY, DENY, GONE, GONE)),
    ("exceptions/<int:pk>/decide/", "POST", "/exceptions/{exception}/decide/",
     (LOGIN, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),
    ("exceptions/<int:pk>/revoke/", "POST", "/exceptions/{exception}/revoke/",
     (LOGIN, DENY, BAD, DENY, DENY, DENY, GONE, GONE)),
    ("exceptions/<int:pk>/renew/", "POST", "/exceptions/{exception}/renew/",
     (LOGIN, DENY, DENY, DENY, DENY, DENY, GONE, GONE)),
    # ---- evidence packs: officers, admins and auditors request them; each sees their own (officers and
    # admins see all); {pack} is the officer's queued pack, so it cannot be downloaded yet
    ("packs/", "GET", "/packs/", (LOGIN, OK, OK, DENY, DENY, OK, OK, OK)),
    ("packs/<int:pk>/", "GET", "/packs/{pack}/", (LOGIN, OK, OK, DENY, DENY, GONE, GONE, GONE)),
    ("packs/<int:pk>/cancel/", "POST", "/packs/{pack}/cancel/", (LOGIN, MOVED, MOVED, DENY, DENY, GONE, GONE, GONE)),
    ("packs/<int:pk>/cancel/", "GET", "/packs/{pack}/cancel/", (LOGIN,) + (NOPE,) * 7),
    ("packs/<int:pk>/download/", "GET", "/packs/{pack}/download/", (LOGIN, GONE, GONE, DENY, DENY, GONE, GONE, GONE)),
    ("packs/<int:pk>/report.pdf", "GET", "/packs/{pack}/report.pdf", (LOGIN, GONE, GONE, DENY, DENY, GONE, GONE, GONE)),
    ("api/v1/packs", "GET", "/api/v1/packs", (DENY, OK, OK, DENY, DENY, OK, OK, OK)),
    ("api/v1/packs", "POST", "/api/v1/packs", (DENY, BAD, BAD, DENY, DENY, BAD, BAD, BAD)),
    ("api/v1/packs/<int:pk>", "GET", "/api/v1/packs/{pack}", (DENY, OK, OK, DENY, DENY, GONE, GONE, GONE)),
    ("api/v1/packs/<int:pk>/download", "GET", "/api/v1/packs/{pack}/download",
     (DENY, 409, 409, DENY, DENY, GONE, GONE, GONE)),
    # ---- search
    ("search/", "GET", "/search/?q=pytest", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    # ---- ingest admin pages: platform admins only
    ("sources/", "GET", "/sources/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("sources/new/", "GET", "/sources/new/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("sources/<int:pk>/", "GET", "/sources/{source}/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    # admins only; an empty form is refused with a message and a redirect back to the source
    ("sources/<int:pk>/allowances/", "POST", "/sources/{source}/allowances/",
     (LOGIN, MOVED, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("sources/<int:pk>/rotate/", "POST", "/sources/{source}/rotate/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("sources/<int:pk>/enabled/", "POST", "/sources/{source}/enabled/",
     (LOGIN, MOVED, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("sources/<int:pk>/sync/", "POST", "/sources/{source}/sync/", (LOGIN, MOVED, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("receipts/", "GET", "/receipts/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("receipts/<int:pk>/", "GET", "/receipts/{receipt}/", (LOGIN, OK, DENY, DENY, DENY, DENY, DENY, DENY)),
    ("receipts/<int:pk>/reparse/", "POST", "/receipts/{receipt}/reparse/",
     (LOGIN, MOVED, DENY, DENY, DENY, DENY, DENY, DENY)),
    # ---- API: session users read; ingestion takes source credentials only (a user session is not one)
    ("api/v1/systems/", "GET", "/api/v1/systems/", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/systems/<slug:slug>/", "GET", "/api/v1/systems/{system}/", (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/ingest/github", "POST", "/api/v1/ingest/github", (UNAUTH,) * 8),
    ("api/v1/ingest/gitlab", "POST", "/api/v1/ingest/gitlab", (UNAUTH,) * 8),
    ("api/v1/ingest/mlflow", "POST", "/api/v1/ingest/mlflow", (UNAUTH,) * 8),
    ("api/v1/ingest/oci", "POST", "/api/v1/ingest/oci", (UNAUTH,) * 8),
    ("api/v1/ingest/openlineage", "POST", "/api/v1/ingest/openlineage", (UNAUTH,) * 8),
    ("api/v1/receipts/<int:pk>", "GET", "/api/v1/receipts/{receipt}", (UNAUTH, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/evidence", "GET", "/api/v1/evidence", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/evidence", "POST", "/api/v1/evidence", (UNAUTH,) * 8),
    ("api/v1/evidence/<int:pk>", "GET", "/api/v1/evidence/{evidence}", (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/evidence/<int:pk>", "GET", "/api/v1/evidence/{evidence_old}",
     (DENY, OK, OK, OK, OK, GONE, GONE, GONE)),
    ("api/v1/artifacts/<int:pk>", "GET", "/api/v1/artifacts/{artifact}", (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/search", "GET", "/api/v1/search?q=pytest", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    # ---- lineage (issue: registries + lineage): the start artifact or system is scoped like its detail page
    ("evidence/artifacts/<int:pk>/lineage/", "GET", "/evidence/artifacts/{artifact}/lineage/",
     (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/artifacts/<int:pk>/lineage", "GET", "/api/v1/artifacts/{artifact}/lineage",
     (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/lineage/path", "GET", "/api/v1/lineage/path?from={artifact}&to={artifact}",
     (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/lineage/impact", "GET", "/api/v1/lineage/impact?artifact={artifact}",
     (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/systems/<slug:slug>/production", "GET", "/api/v1/systems/{system}/production",
     (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    # scoped like the artifact's page first; the world's artifact is a commit, so who may see it is told 400
    ("api/v1/lineage/releases/<int:pk>/chain", "GET", "/api/v1/lineage/releases/{artifact}/chain",
     (DENY, BAD, BAD, BAD, BAD, BAD, GONE, GONE)),
    ("api/v1/exceptions", "GET", "/api/v1/exceptions", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/exceptions/request", "POST", "/api/v1/exceptions/request", (DENY, DENY, BAD, BAD, BAD, DENY, DENY, DENY)),
    ("api/v1/exceptions/inbox", "GET", "/api/v1/exceptions/inbox", (DENY, DENY, OK, OK, DENY, DENY, DENY, DENY)),
    ("api/v1/exceptions/policy", "GET", "/api/v1/exceptions/policy", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/exceptions/<int:pk>", "GET", "/api/v1/exceptions/{exception}", (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/exceptions/<int:pk>/update", "POST", "/api/v1/exceptions/{exception}/update",
     (DENY, DENY, OK, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/exceptions/<int:pk>/submit", "POST", "/api/v1/exceptions/{exception}/submit",
     (DENY, DENY, 409, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/exceptions/<int:pk>/approve", "POST", "/api/v1/exceptions/{exception}/approve",
     (DENY, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),  # BAD: an empty body lacks the digest (required)
    ("api/v1/exceptions/<int:pk>/reject", "POST", "/api/v1/exceptions/{exception}/reject",
     (DENY, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),  # BAD: an empty body lacks the digest (required)
    ("api/v1/exceptions/<int:pk>/revoke", "POST", "/api/v1/exceptions/{exception}/revoke",
     (DENY, DENY, BAD, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/exceptions/<int:pk>/renew", "POST", "/api/v1/exceptions/{exception}/renew",
     (DENY, DENY, DENY, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/releases/signoffs", "GET", "/api/v1/releases/signoffs", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/releases/signoffs/classify", "POST", "/api/v1/releases/signoffs/classify",
     (DENY, BAD, BAD, BAD, BAD, DENY, DENY, DENY)),
    ("api/v1/releases/signoffs/<int:pk>", "GET", "/api/v1/releases/signoffs/{signoff}",
     (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/releases/signoffs/<int:pk>/approve", "POST", "/api/v1/releases/signoffs/{signoff}/approve",
     (DENY, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),
    ("api/v1/releases/signoffs/<int:pk>/reject", "POST", "/api/v1/releases/signoffs/{signoff}/reject",
     (DENY, BAD, BAD, BAD, BAD, DENY, GONE, GONE)),
    # The OpenAPI schema and its docs are public, as the contract says: they describe, they expose no data.
    ("api/schema/", "GET", "/api/schema/", (OK,) * 8),
    ("api/docs/", "GET", "/api/docs/", (OK,) * 8),
    # ---- policy: everyone signed in reads controls and rules (auditors see results of their systems only);
    # compliance officers and admins edit rules and import catalogs; the gate takes source tokens or sessions
    ("controls/", "GET", "/controls/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("controls/<str:control_id>/", "GET", "/controls/hipaa-164-312-a-2-iv/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    # ---- manual evidence (issue 24): people who may see the system provide documents; the requirement's owner
    # or a compliance officer (never the uploader, here the engineer) decides; auditors never write
    ("controls/<int:control_pk>/documents/upload", "POST", "/controls/{control_pk}/documents/upload",
     (LOGIN, MOVED, MOVED, MOVED, MOVED, DENY, DENY, DENY)),
    ("controls/<int:control_pk>/attestations/new", "POST", "/controls/{control_pk}/attestations/new",
     (LOGIN, MOVED, MOVED, MOVED, MOVED, DENY, DENY, DENY)),
    ("documents/<int:pk>/decide", "POST", "/documents/{document}/decide",
     (LOGIN, MOVED, MOVED, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/documents", "POST", "/api/v1/documents", (DENY, BAD, BAD, BAD, BAD, DENY, DENY, DENY)),
    ("api/v1/documents/<int:pk>", "GET", "/api/v1/documents/{document}", (DENY, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/documents/<int:pk>/approve", "POST", "/api/v1/documents/{document}/approve",
     (DENY, OK, OK, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/documents/<int:pk>/reject", "POST", "/api/v1/documents/{document}/reject",
     (DENY, BAD, BAD, DENY, DENY, DENY, GONE, GONE)),
    ("api/v1/attestations", "POST", "/api/v1/attestations", (DENY, BAD, BAD, BAD, BAD, DENY, DENY, DENY)),
    ("rules/", "GET", "/rules/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("rules/<slug:key>/", "GET", "/rules/security-scan-fresh/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("rules/new/", "GET", "/rules/new/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("rules/<slug:key>/edit/", "GET", "/rules/security-scan-fresh/edit/",
     (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("rules/validate", "POST", "/rules/validate", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("rules/dry-run", "POST", "/rules/dry-run", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    # the officer's dry run: only the person who asked sees it (the admin gets 404, not their run)
    ("rules/dry-run/<int:pk>", "GET", "/rules/dry-run/{dry_run}", (LOGIN, GONE, OK, DENY, DENY, DENY, DENY, DENY)),
    ("frameworks/import/", "GET", "/frameworks/import/", (LOGIN, OK, OK, DENY, DENY, DENY, DENY, DENY)),
    ("frameworks/<slug:code>/assessment-results.json", "GET", "/frameworks/hipaa/assessment-results.json",
     (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    ("frameworks/<slug:code>/assessment-results.json", "GET",
     "/frameworks/hipaa/assessment-results.json?system={system}", (LOGIN, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/gates/<path:subject>", "GET", "/api/v1/gates/{artifact}", (UNAUTH, OK, OK, OK, OK, OK, GONE, GONE)),
    ("api/v1/gates", "GET", "/api/v1/gates", (UNAUTH, BAD, BAD, BAD, BAD, BAD, BAD, BAD)),
    ("api/v1/control-results", "GET", "/api/v1/control-results", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/frameworks", "GET", "/api/v1/frameworks", (DENY, OK, OK, OK, OK, OK, OK, OK)),
    ("api/v1/frameworks/import", "POST", "/api/v1/frameworks/import", (DENY, BAD, BAD, DENY, DENY, DENY, DENY, DENY)),
    ("api/v1/frameworks/<slug:code>/assessment-results", "GET", "/api/v1/frameworks/hipaa/assessment-results",
     (DENY, OK, OK, OK, OK, OK, OK, OK)),
    # ---- dashboard
    ("", "GET", "/", (LOGIN, OK, OK, OK, OK, OK, OK, OK)),
    # ---- Django's admin site: staff (platform admins) only; everyone else to its login
    ("admin/*", "GET", "/admin/", (LOGIN, OK, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),
    ("admin/*", "GET", "/admin/engagements/engagement/", (LOGIN, OK, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),
    ("admin/*", "GET", "/admin/accounts/user/", (LOGIN, OK, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),
]


def url_routes(patterns=None, prefix: str = ""):
    """Every route of the URL configuration, as the concatenated pattern strings."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from url_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _covered(route: str) -> bool:
    for row_route, *_ in TABLE:
        if row_route == route or (row_route.endswith("*") and route.startswith(row_route[:-1])):
            return True
    return False


def test_every_url_is_in_the_table():
    missing = sorted({route for route in url_routes() if not _covered(route)})
    assert not missing, (
        "these URLs have no row in the authorization table; add the expected status of every role:\n  "
        + "\n  ".join(missing)
    )


def test_every_row_of_the_table_is_a_url_that_exists():
    routes = set(url_routes())
    stale = [r for r, *_ in TABLE if not r.endswith("*") and r not in routes]
    assert not stale, f"rows for URLs that no longer exist: {stale}"


@pytest.fixture(scope="module")
def people(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for the module inside a transaction that is rolled back at its end.

    Read-only for the rows: each test runs in a savepoint of that transaction (pytest-django's
    `db`), and each request of a row in a savepoint of its own, so nothing a row does is seen by
    the next. Building it per row cost ~0.6 s × 141 rows."""
    from django.test.utils import override_settings

    witness = tmp_path_factory.mktemp("matrix-ledger") / "ledger-checkpoints.jsonl"
    unblocked = django_db_blocker.unblock()
    with unblocked, override_settings(PORTAL_LEDGER_WITNESS_FILE=witness), transaction.atomic():
        users, values = _people_build(world_build())
        yield users, values, signed_in(users)
        transaction.set_rollback(True)


def signed_in(users: dict) -> dict[str, str | None]:
    """Each user's session key, signed in once as Django's test client signs in (`force_login`): a row sends
    the cookie instead of signing in and out again for each of its eight requests (~15 ms each, ~20 s a run).
    A request's changes to its session are rolled back with the request's savepoint."""
    from django.conf import settings
    from django.test import Client

    keys: dict[str, str | None] = {}
    for who, user in users.items():
        if user is None:
            keys[who] = None
            continue
        client = Client()
        client.force_login(user)
        keys[who] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return keys


def sign_in_as(client, keys: dict[str, str | None], who: str) -> None:
    """Make `client` send `who`'s session cookie (none for anon)."""
    from django.conf import settings

    client.cookies.pop(settings.SESSION_COOKIE_NAME, None)
    if keys[who] is not None:
        client.cookies[settings.SESSION_COOKIE_NAME] = keys[who]


def _people_build(world):
    from apps.engagements.models import SampleItem

    engineer = person(Role.ENGINEER, "engineer")
    now = timezone.now()
    req = evidence_request_create(
        actor=world.auditor_in, engagement_id=world.engagement.pk, system_id=world.system_in.pk,
        control_ref="soc2 CC8.1", title="Change approvals for Q3", due_date=(now + timedelta(days=7)).date(),
        assignee=engineer,
    )
    sample = sample_draw(actor=world.auditor_in, engagement_id=world.engagement.pk, population="all-evidence", size=1)
    from apps.releases.services import release_classify
    from apps.retention.services import legal_hold_place

    signoff = release_classify(artifact=world.evidence_in.subject, change_class="model", actor="system:test")
    hold = legal_hold_place(actor=world.officer, scope="system", system=world.system_in, reason="matrix")
    from apps.exceptions.services import ExceptionInput, exception_request

    exception = exception_request(actor=world.officer, submit=True, data=ExceptionInput(
        control="soc2-cc8-1", system=world.system_in.slug, likelihood=1, impact=1, expires_at=now + timedelta(days=30),
        justification="matrix: change approvals move to the new tool", compensating_controls="matrix: two reviewers"))
    # Requested within the engagement's observation window (soc2, the last 90 days), so in the auditor's scope.
    type(exception).objects.filter(pk=exception.pk).update(created_at=now - timedelta(days=1))
    from apps.packs.services import pack_request

    pack = pack_request(user=world.officer, kind="system", params={
        "system": world.system_in.slug, "start": "2000-01-01", "end": now.date().isoformat()})
    ledger_integrate_all()
    from apps.engagements.models import Engagement
    from apps.ledger.models import LedgerEntry
    from apps.ledger.services import ledger_checkpoint

    # as if the engagement had opened at this checkpoint, so its consistency proof exists
    checkpoint = ledger_checkpoint(force=True)
    Engagement.objects.filter(pk=world.engagement.pk).update(opening_checkpoint_size=checkpoint.size)

    from apps.policy.models import RuleDryRun

    dry_run = RuleDryRun.objects.create(requested_by=world.officer, rule_key="security-scan-fresh", spec={},
                                        created_at=now)
    from apps.attestations.models import DocumentRequirement
    from apps.attestations.services import DocumentUpload, document_upload

    requirement = DocumentRequirement.objects.get(control__framework__code="soc2", control__control_id="soc2-cc1-1")
    document = document_upload(actor=engineer, requirement_id=requirement.pk, system=world.system_in,
                               upload=DocumentUpload(body=b"matrix policy", filename="p.pdf", content_type="",
                                                     title="Code of conduct"))  # fmt: skip
    from apps.engagements.threads import flag_raise
    from apps.policy.models import ControlResult
    from apps.policy.services import policy_evaluate

    policy_evaluate(actor="system:test")  # soc2-cc8-1's result on the engagement's system used evidence_in
    ControlResult.objects.filter(system=world.system_in, control__control_id="soc2-cc8-1").update(
        evidence_ids=[world.evidence_in.pk])
    flag = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref="soc2:soc2-cc8-1",
                      evidence_id=world.evidence_in.pk, comment="matrix: who approved this change?")
    values = {
        "flag": flag.pk,
        "control_pk": requirement.control_id,
        "document": document.pk,
        "dry_run": dry_run.pk,
        "system": world.system_in.slug,
        "system_out": world.system_out.slug,
        "evidence": world.evidence_in.pk,
        "evidence_old": world.evidence_old.pk,
        "evidence_out": world.evidence_out.pk,
        "artifact": world.evidence_in.subject_links.values_list("artifact_id", flat=True).first(),
        "receipt": world.evidence_in.receipt_id,
        "source": world.source.pk,
        "engagement": world.engagement.pk,
        "engagement_ended": world.engagement_ended.pk,
        "request": req.pk,
        "signoff": signoff.pk,
        "hold": hold.pk,
        "exception": exception.pk,
        "pack": pack.pk,
        "sample": sample.pk,
        "sample_item": SampleItem.objects.get(sample=sample).pk,
        "ledger_index": LedgerEntry.objects.order_by("index").values_list("index", flat=True).first(),
        "ledger_exception": LedgerEntry.objects.get(
            action="exception.created", object_type="exceptions.exceptionrequest", object_id=str(exception.pk)).index,
        "ledger_size": checkpoint.size,
    }
    users = {
        "anon": None,
        "admin": person(Role.ADMIN, "admin"),
        "officer": world.officer,
        "risk_owner": person(Role.RISK_OWNER, "risk-owner"),
        "engineer": engineer,
        "auditor_in": world.auditor_in,
        "auditor_out": world.auditor_out,
        "auditor_ended": world.auditor_ended,
    }
    return users, values


ROWS = [pytest.param(route, method, path, expected, id=f"{method} {path}") for route, method, path, expected in TABLE]


@pytest.mark.parametrize("route,method,path,expected", ROWS)
def test_access(db, client, people, route, method, path, expected):
    """One row: every column, each request inside a savepoint rolled back (a POST changes nothing for the next)."""
    _users, values, keys = people
    url = path.format(**values)
    assert re.fullmatch(r"[^{}]+", url), url
    wrong = []
    for who, want in zip(WHO, expected, strict=True):
        with transaction.atomic():
            sign_in_as(client, keys, who)
            response = client.generic(method, url)
            allowed = want if isinstance(want, tuple) else (want,)
            if response.status_code not in allowed:
                wrong.append(f"{who}: got {response.status_code}, expected {want}")
            elif who == "anon" and want == LOGIN and "/login/" not in response.get("Location", ""):
                wrong.append(f"anon: redirected to {response.get('Location')}, not to the sign-in page")
            transaction.set_rollback(True)
    assert not wrong, f"{method} {url}\n  " + "\n  ".join(wrong)


# Issue 19, gap 4: who may read the in-scope exception's justification through the ledger. An auditor of
# another system gets the entry's index and leaf hash only, and no list row about it.
SECRET = "matrix: change approvals move to the new tool"
PAYLOAD: list[tuple[str, tuple]] = [
    # path, whether SECRET may appear, per WHO (None: the page is refused anyway)
    ("/ledger/{ledger_exception}/", (None, True, True, None, None, True, False, None)),
    ("/ledger/{ledger_exception}/?format=json", (None, True, True, None, None, True, False, None)),
]
LISTED: list[tuple[str, tuple]] = [
    ("/ledger/?action=exception.created", (None, True, True, None, None, True, False, None)),
]


@pytest.mark.parametrize("path,expected", PAYLOAD + LISTED, ids=[p for p, _ in PAYLOAD + LISTED])
def test_ledger_payloads_follow_the_engagement_scope(client, people, path, expected):
    _users, values, keys = people
    url = path.format(**values)
    wrong = []
    for who, may_see in zip(WHO, expected, strict=True):
        if may_see is None:
            continue
        sign_in_as(client, keys, who)
        body = client.get(url).content.decode()
        if (path, expected) in LISTED:
            shown = f'href="/ledger/{values["ledger_exception"]}/"' in body
        else:
            shown = SECRET in body
        if shown != may_see:
            wrong.append(f"{who}: {'sees' if shown else 'does not see'} the exception's entry")
    assert not wrong, f"{url}\n  " + "\n  ".join(wrong)
