"""One loader of the TOML policy files: each file in force is read, parsed and refused the same way."""

import shutil
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.exceptions import tiers
from apps.releases import policy as releases
from apps.retention import policy as retention

# (the setting naming a copy, the shipped file, the function giving the policy in force, how errors name it)
POLICIES = [
    pytest.param("PORTAL_EXCEPTION_POLICY_FILE", tiers.SHIPPED, tiers.tier_policy, "exception tier policy",
                 id="exception-tiers"),  # fmt: skip
    pytest.param("PORTAL_RELEASE_POLICY_FILE", releases.SHIPPED, releases.release_policy, "release policy",
                 id="releases"),  # fmt: skip
    pytest.param("PORTAL_RETENTION_POLICY_FILE", retention.SHIPPED, retention.retention_policy, "retention policy",
                 id="retention"),  # fmt: skip
]


def test_only_the_one_policy_file_loader_reads_toml():
    apps_dir = Path(__file__).resolve().parents[2] / "apps"
    readers = sorted(str(p.relative_to(apps_dir)) for p in apps_dir.rglob("*.py")
                     if "tomllib" in p.read_text(encoding="utf-8"))  # fmt: skip
    assert readers == ["common/policy_files.py"]


@pytest.mark.parametrize(("setting", "shipped", "in_force", "what"), POLICIES)
def test_a_policy_file_that_is_not_valid_toml_is_refused_with_its_name(settings, tmp_path, setting, shipped,
                                                                       in_force, what):  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text("[unclosed\n", encoding="utf-8")
    setattr(settings, setting, str(bad))
    with pytest.raises(ImproperlyConfigured, match=rf"^{what} {bad}: not valid TOML \("):
        in_force()


@pytest.mark.parametrize(("setting", "shipped", "in_force", "what"), POLICIES)
def test_a_policy_file_that_cannot_be_read_is_refused_with_its_name(settings, tmp_path, setting, shipped,
                                                                    in_force, what):  # fmt: skip
    missing = tmp_path / "missing.toml"
    setattr(settings, setting, str(missing))
    with pytest.raises(ImproperlyConfigured, match=rf"^{what} {missing}: cannot read it \("):
        in_force()


@pytest.mark.parametrize(("setting", "shipped", "in_force", "what"), POLICIES)
def test_the_policy_in_force_is_the_configured_copy_else_the_shipped_file_read_once(
    settings, tmp_path, setting, shipped, in_force, what
):
    setattr(settings, setting, "")
    assert in_force().source == str(shipped)
    copy = tmp_path / shipped.name
    shutil.copyfile(shipped, copy)
    setattr(settings, setting, str(copy))
    first = in_force()
    assert first.source == str(copy)
    copy.write_text("[unclosed\n", encoding="utf-8")  # read at start-up: a later edit needs a restart
    assert in_force() is first
