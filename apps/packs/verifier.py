"""The stand-alone verifier as ONE file, `compliance_verify.py`, built from the modules the portal itself runs.

The ledger's pure checkpoint.py, merkle.py and verify.py, then the pack checks (offline/core.py)
and the command line (offline/cli.py) are joined in that order, with the imports between them
removed: each module's top-level names land in one namespace (a test keeps them distinct), so
the file needs Python 3.9+ and `cryptography` only, and `manage.py verify_pack` and the file
cannot drift apart. The portal serves it at /verify/ with its sha256; packs do not carry it.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

APPS = Path(__file__).resolve().parent.parent
FILENAME = "compliance_verify.py"
# In dependency order: each module may use the names of the ones before it.
SOURCES = [
    APPS / "ledger" / "checkpoint.py",
    APPS / "ledger" / "merkle.py",
    APPS / "ledger" / "verify.py",
    APPS / "packs" / "offline" / "core.py",
    APPS / "packs" / "offline" / "cli.py",
]
HEADER = '''#!/usr/bin/env python3
"""compliance_verify.py: verify, offline, what the compliance portal publishes.

    python compliance_verify.py PACK.zip --keys-url https://PORTAL/.well-known/compliance-portal/keys.json
    python compliance_verify.py ledger-entry-42.json --trusted-key "<ledger verifier key>"
    python compliance_verify.py engagement-7-consistency.json --keys-file keys.json
    python compliance_verify.py ledger-export.jsonl --checkpoint checkpoints.json --keys-file keys.json

Needs Python 3.9+ and the `cryptography` package, nothing else. Exit 0: verified against
pinned keys; 1: FAILED (what and why); 2: UNVERIFIED (every check that could run passed,
but no pinned key vouches for a signature). Get this file and the keys from the portal
(or your organisation's published copy), never from the pack you are checking; compare
this file's sha256 with the one the portal's /verify/ page shows.

Generated from the portal's own modules ({modules}); do not edit.
"""

from __future__ import annotations

import sys
'''


@dataclass(frozen=True)
class VerifierFile:
    """The joined verifier: its bytes and their sha256 (hex)."""

    content: bytes
    sha256: str


def _strip_internal_imports(source: str, origin: str) -> str:
    """The module's source without its docstring, `from __future__` and imports of our own modules."""
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in tree.body:
        internal = isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").startswith("apps.") or node.module == "__future__"
        )
        docstring = node is tree.body[0] and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if internal or docstring:
            drop.update(range(node.lineno, node.end_lineno + 1))
    lines = source.splitlines()
    kept = [line for number, line in enumerate(lines, start=1) if number not in drop]
    return f"\n# {'-' * 20} from {origin}\n\n" + "\n".join(kept).strip("\n") + "\n"


@cache
def verifier_file() -> VerifierFile:
    """The stand-alone verifier, built once per process (its sources do not change while it runs)."""
    names = ", ".join(p.relative_to(APPS.parent).as_posix() for p in SOURCES)
    parts = [HEADER.format(modules=names)]
    for path in SOURCES:
        origin = path.relative_to(APPS.parent).as_posix()
        parts.append(_strip_internal_imports(path.read_text(encoding="utf-8"), origin))
    parts.append('\n\nif __name__ == "__main__":\n    sys.dont_write_bytecode = True\n    sys.exit(main())\n')
    content = "".join(parts).encode("utf-8")
    return VerifierFile(content=content, sha256=hashlib.sha256(content).hexdigest())


def top_level_names(path: Path) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments): the join must not clash."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names
