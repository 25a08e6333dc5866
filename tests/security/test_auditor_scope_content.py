"""Issue 21: nothing an in-scope auditor sees names the out-of-scope system.

The authorization matrix (test_authorization_matrix.py) says who may open which page; this module
reads what those pages *say*. Every page the matrix lets the in-scope auditor open is fetched as
that auditor, and none may name the other system, its source, its evidence's subject or its
engagement: not in a choice list, a count, a chart or search results.
"""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.db import transaction
from django.urls import Resolver404, resolve

from apps.ingest.services import source_create
from tests.engagements.conftest import DAY, parsed_upload
from tests.security.test_authorization_matrix import OK, TABLE, WHO, _people_build, sign_in_as, signed_in

pytestmark = pytest.mark.django_db

# What belongs to the out-of-scope system only (world_build() and the fixture below).
OUT_OF_SCOPE = ("Credit Scoring", "credit-scoring", "credit-model", "credit-scoring-ci", "Model risk review")

AUDITOR_IN = WHO.index("auditor_in")
PAGES = sorted(
    {
        path
        for _route, method, path, expected in TABLE
        if method == "GET" and expected[AUDITOR_IN] == OK and "format=" not in path and not path.endswith("/raw")
    }
)


@pytest.fixture(scope="module")
def scoped(django_db_setup, django_db_blocker, tmp_path_factory):
    """The matrix's world plus a source bound to the out-of-scope system, with evidence of its own."""
    from django.test.utils import override_settings
    from django.utils import timezone

    from tests.engagements.conftest import world_build

    witness = tmp_path_factory.mktemp("scope-ledger") / "ledger-checkpoints.jsonl"
    with django_db_blocker.unblock(), override_settings(PORTAL_LEDGER_WITNESS_FILE=witness), transaction.atomic():
        world = world_build()
        credit_ci = source_create(actor="system:test", kind="generic-ci", name="credit-scoring-ci",
                                  system=world.system_out).source
        parsed_upload(credit_ci, "junit_pytest.xml", system=world.system_out,
                      effective_at=timezone.now() - 5 * DAY, subject="pkg:pypi/credit-model@1.1")
        users, values = _people_build(world)
        from apps.releases.services import release_classify

        # a release of the other system waiting for its sign-off: counted for others, never for auditor_in
        release_classify(artifact=world.evidence_out.subject, change_class="model", actor="system:test")
        keys = signed_in(users)
        pages: dict[tuple[str, str], str] = {}
        yield world, users, values, lambda client, who, path: _page(client, keys, pages, who, path)
        transaction.set_rollback(True)


def _page(client, keys: dict, pages: dict, who: str, path: str) -> str:
    """What `path` says to `who` (a 200, or the test fails), fetched once per module: the world is read-only for
    these tests and several read the same pages (each fetch of the engagement's workpaper builds a workbook)."""
    if (who, path) not in pages:
        sign_in_as(client, keys, who)
        response = client.get(path)
        assert response.status_code == 200, f"{who}: {path} answered {response.status_code}"
        pages[who, path] = _body(response)
    return pages[who, path]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _body(response) -> str:
    """What a response says, as text: a workbook (the engagement's workpaper) as its sheet names and cells."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type", "").startswith(XLSX):
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join([*book.sheetnames, *(str(cell) for sheet in book.worksheets
                                               for row in sheet.iter_rows(values_only=True) for cell in row
                                               if cell is not None)])
    return content.decode()


def _leaks(body: str) -> list[str]:
    return [name for name in OUT_OF_SCOPE if name.lower() in body.lower()]


@pytest.mark.parametrize("path", PAGES)
def test_an_in_scope_auditors_page_names_nothing_of_the_other_system(client, scoped, path):
    _world, _users, values, read = scoped
    leaks = _leaks(read(client, "auditor_in", path.format(**values)))
    assert not leaks, f"{path} names {leaks}"


def test_the_auditors_evidence_filter_menus_list_only_their_systems_and_sources(client, scoped):
    world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/evidence/").content.decode()
    system_menu = re.search(r'<select name="system".*?</select>', body, re.S).group(0)
    source_menu = re.search(r'<select name="source".*?</select>', body, re.S).group(0)
    assert world.system_in.slug in system_menu
    assert world.system_out.slug not in system_menu
    assert "credit-scoring-ci" not in source_menu
    assert world.source.name in source_menu  # it sent evidence the auditor sees


def test_an_officer_still_sees_every_system_and_source_in_the_menus(client, scoped):
    world, users, _values, _read = scoped
    client.force_login(users["officer"])
    body = client.get("/evidence/").content.decode()
    assert world.system_out.slug in body
    assert "credit-scoring-ci" in body


@pytest.mark.parametrize("query", ["credit", "Credit Scoring", "credit-model", "pytest"])
def test_search_finds_nothing_of_the_other_system_for_an_in_scope_auditor(client, scoped, query):
    _world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/search/", {"q": query}).content.decode()
    # the query itself is echoed back in the search box; the results must not name the other system
    body = body.replace(query, "")
    assert not _leaks(body)


# Issue 21, item 6: no link shown to an action the user cannot take.
_HREF = re.compile(r'<a [^>]*href="(/[^"#?]*)(?:\?[^"]*)?"')
# Links of one route that differ only in their last URL argument (the controls of one engagement's
# workspace, ~60 per engagement) are authorized by the arguments before it: a few of each stand for all.
PER_ROUTE_AND_PARENT = 5


def _sampled(links: dict[str, str]) -> dict[str, str]:
    """Every link, except that at most PER_ROUTE_AND_PARENT are kept per (route, arguments but the last)."""
    kept: dict[str, str] = {}
    seen: dict[tuple, int] = {}
    for href, page in sorted(links.items()):
        try:
            match = resolve(href)
        except Resolver404:
            kept[href] = page  # a link to nothing is checked as it is
            continue
        arguments = list(match.args) + [f"{k}={v}" for k, v in match.kwargs.items()]
        group = (match.view_name, tuple(arguments[:-1]))
        seen[group] = seen.get(group, 0) + 1
        if seen[group] <= PER_ROUTE_AND_PARENT:
            kept[href] = page
    return kept



@pytest.mark.parametrize("who", [w for w in WHO if w != "anon"])
def test_no_link_on_a_users_pages_leads_to_a_refusal(client, scoped, who):
    """Every link on every page the user may open (per the matrix) opens for them: none answers 403."""
    _world, users, values, read = scoped
    column = WHO.index(who)
    pages = {path.format(**values) for _r, method, path, expected in TABLE
             if method == "GET" and expected[column] == OK and "format=" not in path and not path.endswith("/raw")
             and not path.startswith("/api/") and not path.endswith(".json")}
    links: dict[str, str] = {}
    for page in sorted(pages):
        for href in _HREF.findall(read(client, who, page)):
            links.setdefault(href, page)
    client.force_login(users[who])
    refused = []
    for href, page in sorted(_sampled(links).items()):
        if href.startswith(("/admin/", "/static/")) or href in pages:
            continue  # a page of the user's own list: read() above got it as a 200
        response = client.get(href)
        if response.status_code == 403:
            refused.append(f"{href} (linked from {page})")
    assert not refused, f"{who} is shown links that answer 403:\n  " + "\n  ".join(refused)


_POST_ACTION = re.compile(r'<form [^>]*method="post"[^>]*action="(/[^"#?]*)"|hx-post="(/[^"#?]*)"')


@pytest.mark.parametrize("who", [w for w in WHO if w != "anon"])
def test_no_form_on_a_users_pages_posts_to_a_refusal(client, scoped, who):
    """Every button that posts (a form or htmx) on a page the user may open is one they may use: sent empty,
    it may be refused as incomplete (400, a form error), never with 403/404/405. Each post is rolled back."""
    _world, users, values, read = scoped
    column = WHO.index(who)
    pages = {path.format(**values) for _r, method, path, expected in TABLE
             if method == "GET" and expected[column] == OK and not path.startswith("/api/")}
    actions: dict[str, str] = {}
    for page in sorted(pages):
        for form, htmx in _POST_ACTION.findall(read(client, who, page)):
            actions.setdefault(form or htmx, page)
    client.force_login(users[who])
    refused = []
    for action, page in sorted(actions.items()):
        if action.endswith("/logout/"):
            continue
        with transaction.atomic():
            status = client.post(action, {}).status_code
            transaction.set_rollback(True)
        if status in (403, 404, 405):
            refused.append(f"{action} ({status}, on {page})")
    assert not refused, f"{who} is shown buttons that are refused:\n  " + "\n  ".join(refused)


def test_the_release_latency_counts_only_the_auditors_systems(client, scoped):
    from apps.releases.models import ReleaseSignoff

    world, users, _values, _read = scoped
    waiting = ReleaseSignoff.objects.filter(status=ReleaseSignoff.Status.PENDING)
    assert waiting.filter(system=world.system_out).exists()
    client.force_login(users["auditor_in"])
    body = client.get("/releases/").content.decode()
    assert f"<dt>Waiting</dt><dd>{waiting.filter(system=world.system_in).count()}</dd>" in body
    client.force_login(users["officer"])
    assert f"<dt>Waiting</dt><dd>{waiting.count()}</dd>" in client.get("/releases/").content.decode()


def test_the_auditors_framework_menu_and_controls_list_hold_only_their_engagements_frameworks(client, scoped):
    _world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/controls/").content.decode()
    assert "?framework=soc2" in body and "?framework=hipaa" not in body  # the engagement is SOC 2 only
    assert "HIPAA" not in body
    client.force_login(users["officer"])
    assert "?framework=hipaa" in client.get("/controls/").content.decode()


def test_the_auditors_pack_form_offers_only_their_frameworks_and_systems(client, scoped):
    world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/packs/").content.decode()
    frameworks = re.search(r'<select name="framework".*?</select>', body, re.S).group(0)
    systems = re.search(r'<select name="system".*?</select>', body, re.S).group(0)
    assert 'value="soc2"' in frameworks and 'value="hipaa"' not in frameworks
    assert world.system_in.slug in systems and world.system_out.slug not in systems


def test_the_auditors_kind_menu_lists_only_kinds_of_evidence_they_see(client, scoped):
    world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/evidence/").content.decode()
    kinds = re.search(r'<select name="kind".*?</select>', body, re.S).group(0)
    assert f'value="{world.evidence_in.kind}"' in kinds
    assert f'value="{world.evidence_out.kind}"' not in kinds  # only the other system has it
    assert f'value="{world.evidence_old.kind}"' not in kinds  # only before the observation window


def test_the_auditors_home_counts_only_their_systems(client, scoped):
    _world, users, _values, _read = scoped
    client.force_login(users["auditor_in"])
    body = client.get("/").content.decode()
    assert "<dt>Systems</dt><dd>1</dd>" in body and "<dt>High or critical risk</dt><dd>1</dd>" in body
    client.force_login(users["officer"])
    assert "<dt>Systems</dt><dd>2</dd>" in client.get("/").content.decode()


def test_the_auditors_overview_shows_coverage_of_their_engagements_frameworks_only(client, scoped):
    from apps.policy.selectors import overview_for_user
    from apps.policy.services import coverage_snapshot, policy_evaluate

    world, users, _values, _read = scoped
    policy_evaluate(system_ids=[world.system_in.pk, world.system_out.pk])
    coverage_snapshot(system_ids=[world.system_in.pk, world.system_out.pk])
    officer = {f.code for f in overview_for_user(user=users["officer"]).frameworks}
    assert {"soc2", "hipaa"} <= officer
    assert {f.code for f in overview_for_user(user=users["auditor_in"]).frameworks} == {"soc2"}


def test_the_auditors_systems_framework_menu_lists_only_frameworks_of_their_systems(client, scoped):
    """The systems list offered every framework the portal knows, those of systems the auditor cannot see too."""
    from apps.inventory.models import System

    world, users, _values, _read = scoped
    System.objects.filter(pk=world.system_in.pk).update(frameworks=["soc2", "gdpr"])
    System.objects.filter(pk=world.system_out.pk).update(frameworks=["sr-11-7", "eu-ai-act"])
    client.force_login(users["auditor_in"])
    body = client.get("/systems/").content.decode()
    menu = re.search(r'<select name="framework".*?</select>', body, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', menu) == ["", "gdpr", "soc2"]
    client.force_login(users["officer"])
    menu = re.search(r'<select name="framework".*?</select>', client.get("/systems/").content.decode(), re.S).group(0)
    assert 'value="sr-11-7"' in menu and 'value="hipaa"' in menu  # everyone else: every framework


@pytest.mark.parametrize("who", ["admin", "officer"])
def test_no_page_shows_a_path_on_the_server(client, scoped, who, settings):
    """Issue 21, item 2: pages named server files (the retention policy's path). Those who see the most
    pages open every GET page the matrix allows them; none may show the project's or the data's directory."""
    _world, _users, values, read = scoped
    column = WHO.index(who)
    pages = {path.format(**values) for _r, method, path, expected in TABLE
             if method == "GET" and expected[column] == OK}
    markers = {str(settings.BASE_DIR), str(settings.VAR_DIR), "site-packages"}
    bodies = {page: read(client, who, page) for page in pages}  # each page once, then every marker
    showing = sorted(f"{page} shows {marker}" for page, body in bodies.items() for marker in markers
                     if marker in body)
    assert not showing, "\n".join(showing)
