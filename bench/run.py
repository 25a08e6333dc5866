"""Run every benchmark (bench/*_bench.py), print one table, write bench/results/latest.json.

Usage: python -m bench.run [NAME ...]   (names like "web", "ledger"; default: all)
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    modules = sorted(p.stem for p in ROOT.glob("*_bench.py"))
    modules = [m for m in modules if not wanted or m.removesuffix("_bench") in wanted]
    rows: list[dict] = []
    failures = 0
    for name in modules:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            for r in module.run():
                r["benchmark"] = name.removesuffix("_bench")
                rows.append(r)
                print(f"   {r['name']}: {_fmt(r['value'])} {r['unit']}"
                      f" | baseline {_fmt(r['baseline'])} {r['baseline_unit']} | ratio {_fmt(r['ratio'])}", flush=True)
        except Exception:  # one failing benchmark must not hide the others' figures
            failures += 1
            traceback.print_exc()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)

    width = max((len(r["name"]) for r in rows), default=10)
    print()
    print(f"{'benchmark':<{width}} | {'value':>12} {'unit':<14} | {'baseline':>12} {'baseline unit':<26} | ratio")
    print("-" * (width + 80))
    for r in rows:
        print(f"{r['name']:<{width}} | {_fmt(r['value']):>12} {r['unit']:<14} | {_fmt(r['baseline']):>12} "
              f"{r['baseline_unit']:<26} | {_fmt(r['ratio'])}")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
        "rows": rows,
    }
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT.parent))
    sys.exit(main(sys.argv[1:]))
