"""Evidence parser throughput on large synthetic documents, against plain json.loads.

Run ``python bench/parsers_bench.py`` (or through ``make bench``). ``run()`` returns rows
``{"name", "value", "unit", "baseline", "baseline_unit", "ratio"}``. Values are rates
(higher is better) and ``ratio = value / baseline``; the baseline is ``json.loads`` of
the same bytes in the same run, the floor any JSON parser pays, so the ratio says what
fraction of raw decoding speed the parser keeps (expect well below 1: it also builds
subjects, edges and one record per item):

- ``cyclonedx_10k_components``: components/s through parse_cyclonedx() for a CycloneDX
  1.6 JSON SBOM with 10,000 components, licenses, hashes and a dependency graph.
- ``sarif_50k_results``: results/s through parse_sarif() for a SARIF 2.1.0 log with
  50,000 results over 200 rules (levels from rule defaults, locations, severities).
- ``detect_*``: detections/s of detect_format() on the same bytes, against json.loads
  (detection only reads the head, so expect a ratio far above 1).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from apps.formats.cyclonedx import parse_cyclonedx  # noqa: E402
from apps.formats.detect import detect_format  # noqa: E402
from apps.formats.sarif import parse_sarif  # noqa: E402

COMPONENTS = 10_000
RESULTS = 50_000
RULES = 200
REPEATS = 3


def make_cyclonedx(count: int = COMPONENTS) -> bytes:
    components, dependencies = [], []
    for i in range(count):
        ref = f"pkg:pypi/package-{i}@1.{i % 10}.{i % 7}"
        components.append(
            {
                "type": "library",
                "bom-ref": ref,
                "name": f"package-{i}",
                "version": f"1.{i % 10}.{i % 7}",
                "purl": ref,
                "licenses": [{"license": {"id": ("MIT", "Apache-2.0", "BSD-3-Clause")[i % 3]}}],
                "hashes": [{"alg": "SHA-256", "content": f"{i:064x}"}],
            }
        )
        depends = [f"pkg:pypi/package-{j}@1.{j % 10}.{j % 7}" for j in (i * 3 + 1, i * 3 + 2) if j < count]
        dependencies.append({"ref": ref, "dependsOn": depends})
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": "2024-01-01T00:00:00Z",
            "component": {
                "type": "application",
                "bom-ref": "root",
                "name": "big-app",
                "version": "1.0.0",
                "purl": "pkg:generic/big-app@1.0.0",
            },
        },
        "components": components,
        "dependencies": [{"ref": "root", "dependsOn": [components[0]["bom-ref"]]}, *dependencies],
    }
    return json.dumps(doc).encode()


def make_sarif(count: int = RESULTS, rules: int = RULES) -> bytes:
    levels = ("error", "warning", "note", "none")
    rule_list = [
        {
            "id": f"R{r:04d}",
            "shortDescription": {"text": f"rule {r}"},
            "defaultConfiguration": {"level": levels[r % 4]},
            "properties": {"security-severity": str((r % 100) / 10)},
        }
        for r in range(rules)
    ]
    results = []
    for i in range(count):
        rule = i % rules
        result = {
            "ruleId": f"R{rule:04d}",
            "ruleIndex": rule,
            "message": {"text": f"finding {i} in module {i % 97}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"src/module_{i % 97}.py"},
                        "region": {"startLine": i % 500 + 1, "startColumn": 1},
                    }
                }
            ],
        }
        if i % 5 == 0:
            result["level"] = "warning"
        results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "synthetic-scanner", "version": "1.0.0", "rules": rule_list}},
                "invocations": [{"executionSuccessful": True, "endTimeUtc": "2024-01-01T00:00:00Z"}],
                "results": results,
            }
        ],
    }
    return json.dumps(doc).encode()


def _best_seconds(func, body: bytes) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        func(body)
        timings.append(time.perf_counter() - start)
    return min(timings)


def _row(name: str, items: int, unit: str, seconds: float, baseline_seconds: float) -> dict:
    value = items / seconds
    baseline = items / baseline_seconds
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "baseline_unit": f"{unit} (json.loads)",
        "ratio": round(value / baseline, 3),
    }


def run() -> list[dict]:
    rows = []
    cdx = make_cyclonedx()
    sarif = make_sarif()
    for name, body, parser, items, unit in (
        ("cyclonedx_10k_components", cdx, parse_cyclonedx, COMPONENTS, "components/s"),
        ("sarif_50k_results", sarif, parse_sarif, RESULTS, "results/s"),
    ):
        result = parser(body)
        expected = COMPONENTS if parser is parse_cyclonedx else RESULTS
        assert len(result.evidence[0].records) == expected, "parser dropped items"
        rows.append(_row(name, items, unit, _best_seconds(parser, body), _best_seconds(json.loads, body)))
        detect_seconds = statistics.median(_best_seconds(lambda b: detect_format(b), body) for _ in range(3))
        rows.append(
            _row(f"detect_{name.split('_')[0]}", 1, "detections/s", detect_seconds, _best_seconds(json.loads, body))
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
