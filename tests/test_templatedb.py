"""tests/templatedb.py: a test database copied from a template is only ever a copy of today's migrate."""

from pathlib import Path

from tests.templatedb import inputs_digest, template_name


def _tree(root: Path) -> None:
    (root / "apps" / "policy" / "migrations").mkdir(parents=True)
    (root / "apps" / "policy" / "migrations" / "0001_initial.py").write_text("operations = []\n")
    (root / "apps" / "policy" / "catalogs").mkdir()
    (root / "apps" / "policy" / "catalogs" / "soc2.yaml").write_text("controls: []\n")
    (root / "apps" / "policy" / "templates").mkdir()
    (root / "apps" / "policy" / "templates" / "page.html").write_text("<p>")
    (root / "compliance_portal").mkdir()
    (root / "compliance_portal" / "settings.py").write_text("DEBUG = False\n")
    (root / "requirements.txt").write_text("django==5.2\n")


def test_the_template_is_renamed_by_any_change_a_migrate_depends_on(tmp_path):
    _tree(tmp_path)
    first = inputs_digest(tmp_path)
    assert inputs_digest(tmp_path) == first  # stable
    changes = [
        ("apps/policy/migrations/0001_initial.py", "operations = [1]\n"),
        ("apps/policy/catalogs/soc2.yaml", "controls: [cc1]\n"),  # data a post_migrate handler loads
        ("compliance_portal/settings.py", "DEBUG = True\n"),
        ("requirements.txt", "django==5.2.1\n"),
    ]
    seen = {first}
    for name, text in changes:
        (tmp_path / name).write_text(text)
        digest = inputs_digest(tmp_path)
        assert digest not in seen, name
        seen.add(digest)
    (tmp_path / "apps" / "policy" / "migrations" / "0002_more.py").write_text("operations = []\n")  # a new file
    assert inputs_digest(tmp_path) not in seen
    seen.add(inputs_digest(tmp_path))
    (tmp_path / "apps" / "policy" / "catalogs" / "nist.cue").write_text("controls: []\n")  # data of a new kind
    assert inputs_digest(tmp_path) not in seen
    assert template_name(first).startswith("portal_test_template_") and len(template_name(first)) < 64


def test_a_page_template_or_static_file_does_not_rename_it(tmp_path):
    _tree(tmp_path)
    before = inputs_digest(tmp_path)
    (tmp_path / "apps" / "policy" / "templates" / "page.html").write_text("<p>changed")
    (tmp_path / "apps" / "policy" / "static").mkdir()
    (tmp_path / "apps" / "policy" / "static" / "chart.js").write_text("draw()")
    assert inputs_digest(tmp_path) == before
