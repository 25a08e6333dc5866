"""Run the portal's stand-alone verifier as an outside auditor would: one file, a Python whose only importable
third-party package is `cryptography` (with the cffi it loads), nothing of the portal on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cryptography

# cryptography and what it imports at run time; every other package of the virtualenv stays out of reach.
_DEPS = ("cryptography", "cffi", "_cffi_backend", "pycparser")


def _deps_dir(where: Path) -> Path:
    site = Path(cryptography.__file__).resolve().parent.parent
    deps = where / "only-cryptography"
    if not deps.exists():
        deps.mkdir(parents=True)
        for path in site.iterdir():
            if path.name.split(".")[0].split("-")[0] in _DEPS:
                (deps / path.name).symlink_to(path)
    return deps


def run_verifier(verifier: Path, *args: str, where: Path) -> subprocess.CompletedProcess:
    """`python compliance_verify.py ARGS` with -s -S (no site-packages) and PYTHONPATH = cryptography only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DJANGO", "PORTAL", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(_deps_dir(where))
    return subprocess.run([sys.executable, "-s", "-S", str(verifier), *map(str, args)], cwd=where, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_only_cryptography_importable(where: Path) -> None:
    """The environment run_verifier() uses really holds no Django and none of the portal's code."""
    probe = where / "probe.py"
    probe.write_text("import cryptography.hazmat.primitives.asymmetric.ed25519\n"
                     "for name in ('django', 'apps', 'rfc8785', 'rest_framework'):\n"
                     "    try:\n        __import__(name)\n    except ImportError:\n        continue\n"
                     "    raise SystemExit(name + ' is importable')\n")
    result = run_verifier(probe, where=where)
    assert result.returncode == 0, result.stdout + result.stderr
