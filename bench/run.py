"""Run every benchmark (bench/*_bench.py), print one table, write bench/results/latest.json.

Usage: python -m bench.run [--scales 10k,100k,1m] [NAME ...]   (names like "web", "ledger"; default: all)

Scale-independent modules (parsers, ledger core, policy CEL, ingest accept...) run once, on the bench
database. A module that declares ``SCALED = True`` and takes ``run(scale=...)`` runs once per scale,
against a data set made by ``manage.py generate_scale`` in a database of its own on the bench
PostgreSQL (``portal_scale_10k``, ``portal_scale_100k``, ``portal_scale_1m``): generated the first time
(1M takes minutes), reused afterwards while the bench services are kept (PORTAL_KEEP_SERVICES=true).
Each scale runs in a child process whose DATABASE_URL names that database, so gunicorn and every
connection of the module see the scale's data. Rows get a ``scale`` field ("10k"... or None).

PORTAL_BENCH_SCALES (e.g. "10k,100k") sets the default scales; --scales overrides it.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
# scale name -> evidence items; the other sizes follow generate_scale's defaults (1M: 10k releases,
# 100k lineage nodes, 5k exceptions, ~200 systems)
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DEFAULT_SCALES = os.environ.get("PORTAL_BENCH_SCALES", "10k,100k,1m")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _modules(wanted: set[str]) -> list[str]:
    modules = sorted(p.stem for p in ROOT.glob("*_bench.py"))
    return [m for m in modules if not wanted or m.removesuffix("_bench") in wanted]


def _is_scaled(name: str) -> bool:
    """Whether a module declares SCALED = True (read from its source: importing it is the child's job)."""
    source = (ROOT / f"{name}.py").read_text()
    return any(line.strip().replace(" ", "") == "SCALED=True" for line in source.splitlines())


def _print_row(r: dict) -> None:
    scale = f"[{r['scale']}] " if r.get("scale") else ""
    detail = f" ({r['detail']})" if r.get("detail") else ""
    print(f"   {scale}{r['name']}{detail}: {_fmt(r['value'])} {r['unit']}"
          f" | baseline {_fmt(r['baseline'])} {r['baseline_unit']} | ratio {_fmt(r['ratio'])}", flush=True)  # fmt: skip


def _run_modules(names: list[str], *, scale: str | None) -> tuple[list[dict], int]:
    rows: list[dict] = []
    failures = 0
    for name in names:
        started = time.perf_counter()
        print(f"== {name}" + (f" @ {scale}" if scale else ""), flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            produced = module.run(scale=scale) if scale else module.run()
            for r in produced:
                r["benchmark"] = name.removesuffix("_bench")
                r["scale"] = scale
                rows.append(r)
                _print_row(r)
        except Exception:  # one failing benchmark must not hide the others' figures
            failures += 1
            traceback.print_exc()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return rows, failures


# ---------------------------------------------------------------- scale databases


def scale_database_url(scale: str) -> str:
    base = os.environ["DATABASE_URL"]
    return base.rsplit("/", 1)[0] + f"/portal_scale_{scale}"


def _scale_env(scale: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = scale_database_url(scale)
    env["PORTAL_BENCH_SCALE"] = scale
    var = Path(os.environ.get("PORTAL_VAR_DIR", ROOT.parent / "var" / "bench"))
    env["PORTAL_LEDGER_WITNESS_FILE"] = str(var / f"ledger-checkpoints-{scale}.jsonl")
    return env


def scale_info_path(scale: str) -> Path:
    var = Path(os.environ.get("PORTAL_VAR_DIR", ROOT.parent / "var" / "bench"))
    return var / f"scale-{scale}.json"


def ensure_scale(scale: str) -> dict:
    """Create, migrate and generate the scale's database unless it holds a generated set; its counts."""
    import psycopg

    env = _scale_env(scale)
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"portal_scale_{scale}"]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "portal_scale_{scale}"')  # noqa: S608 - a name from SCALES
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT.parent, env=env, check=True)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        done = conn.execute("SELECT 1 FROM ingest_source WHERE name = 'scale-generator'").fetchone()
    info_path = scale_info_path(scale)
    if done and info_path.exists():
        return json.loads(info_path.read_text())
    if done:
        raise RuntimeError(f"portal_scale_{scale} holds a generated set but {info_path} is missing: "
                           f"drop the database (dropdb portal_scale_{scale}) to regenerate it")  # fmt: skip
    print(f"== generate_scale --evidence {SCALES[scale]:,} into portal_scale_{scale} (once; kept for later runs)",
          flush=True)  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(
        [python, "manage.py", "generate_scale", "--evidence", str(SCALES[scale]), "--json"],
        cwd=ROOT.parent, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    last = ""
    for line in proc.stdout:  # progress as it comes; the last line is the counts as JSON
        last = line.strip()
        if not last.startswith("{"):
            print(f"   {last}", flush=True)
    if proc.wait():
        raise RuntimeError(f"generate_scale failed for {scale} (exit {proc.returncode})")
    lines = [last]
    info = {"scale": scale, "evidence": SCALES[scale], "counts": json.loads(lines[-1]),
            "generated_s": round(time.perf_counter() - started, 1),
            "generated_at": datetime.now(UTC).isoformat()}  # fmt: skip
    info_path.write_text(json.dumps(info, indent=2))
    return info


def _run_scale(scale: str, names: list[str]) -> tuple[list[dict], int]:
    """The scaled modules at one scale, in a child process on the scale's database."""
    info = ensure_scale(scale)
    out = RESULTS / f".scale-{scale}.json"
    RESULTS.mkdir(exist_ok=True)
    short = [n.removesuffix("_bench") for n in names]
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--child", scale, "--out", str(out), *short],
                          cwd=ROOT.parent, env=_scale_env(scale), check=False)  # fmt: skip
    rows = json.loads(out.read_text()) if out.exists() else []
    out.unlink(missing_ok=True)
    counts = info["counts"]
    rows.insert(0, {
        "name": "generate_scale: the data set, once per scale",
        "detail": f"{info['evidence']:,} evidence, {counts['artifacts_by_kind'].get('release', 0):,} releases, "
                  f"{counts['artifacts']:,} artifacts, {counts['ledger_entries']:,} ledger entries",
        "value": info["generated_s"], "unit": "s", "baseline": None, "baseline_unit": "", "ratio": None,
        "benchmark": "generate_scale", "scale": scale,
    })  # fmt: skip
    return rows, (1 if proc.returncode else 0)


# ---------------------------------------------------------------- main


def _parse(argv: list[str]) -> dict:
    opts = {"scales": DEFAULT_SCALES, "child": None, "out": None, "names": []}
    it = iter(argv)
    for arg in it:
        if arg in ("--scales", "--child", "--out"):
            opts[arg[2:]] = next(it)
        elif arg.startswith("--scales="):
            opts["scales"] = arg.split("=", 1)[1]
        else:
            opts["names"].append(arg)
    return opts


def main(argv: list[str]) -> int:
    opts = _parse(argv)
    if opts["child"]:  # one scale, in its own process (DATABASE_URL names the scale's database)
        names = [m for m in _modules(set(opts["names"])) if _is_scaled(m)]
        rows, failures = _run_modules(names, scale=opts["child"])
        Path(opts["out"]).write_text(json.dumps(rows))
        return 1 if failures else 0
    scales = [s.strip() for s in opts["scales"].split(",") if s.strip()]
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        print(f"unknown scale(s) {', '.join(unknown)}: use {', '.join(SCALES)}", file=sys.stderr)
        return 2
    modules = _modules(set(opts["names"]))
    scaled = [m for m in modules if _is_scaled(m)]
    plain = [m for m in modules if m not in scaled]
    rows, failures = _run_modules(plain, scale=None)
    scale_info = {}
    if scaled:
        for scale in scales:
            try:
                scale_rows, failed = _run_scale(scale, scaled)
            except Exception:
                traceback.print_exc()
                failures += 1
                continue
            failures += failed
            rows += scale_rows
            scale_info[scale] = json.loads(scale_info_path(scale).read_text())

    width = max((len(r["name"]) for r in rows), default=10)
    print()
    print(f"{'scale':<5} | {'benchmark':<{width}} | {'value':>12} {'unit':<14} | {'baseline':>12} "
          f"{'baseline unit':<26} | ratio")  # fmt: skip
    print("-" * (width + 88))
    for r in rows:
        print(f"{r.get('scale') or '-':<5} | {r['name']:<{width}} | {_fmt(r['value']):>12} {r['unit']:<14} | "
              f"{_fmt(r['baseline']):>12} {r['baseline_unit']:<26} | {_fmt(r['ratio'])}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": list(os.getloadavg())},  # fmt: skip
        "scales": scale_info,
        "rows": rows,
    }
    out = RESULTS / "latest.json"
    if opts["names"] and out.exists():
        # A partial run (named modules) updates its rows and keeps the others' figures.
        previous = json.loads(out.read_text())
        ran = {(r["benchmark"], r.get("scale")) for r in rows}
        kept = [r for r in previous.get("rows", []) if (r["benchmark"], r.get("scale")) not in ran]
        report["rows"] = kept + rows
        report["scales"] = {**previous.get("scales", {}), **scale_info}
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT.parent))
    sys.exit(main(sys.argv[1:]))
