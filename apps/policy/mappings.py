"""Requirement-to-requirement mappings between frameworks, read from OSCAL mapping collections.

The shipped mappings are data: apps/policy/catalogs/mappings/*.json, each an OSCAL 1.2
mapping-collection whose mappings relate one framework's controls (source-resource) to
another's (target-resource); each resource names its framework by the prop "framework-code"
in our namespace. Relationships are NIST IR 8477's set-theory ones and decide where a rule
result may flow:

    equivalent-to    both ways       (either requirement satisfies the other)
    superset-of      source -> target (the source satisfies the target)
    subset-of        target -> source (the target satisfies the source)
    intersects-with  nowhere          (they overlap; shown on the control page, never counted)

One step only: a result flows from the control a rule names to the controls mapped to it,
not on to theirs (a chain of overlaps would claim more than any one link does). The policy
services add these controls to a rule's controls at evaluation (`result_flows`), so one rule
result is recorded for every requirement it satisfies; pages tell a mapped result from a
direct one by whether the rule names the control.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from apps.policy.oscal import CATALOG_DIR, PORTAL_NS, control_ref

MAPPING_DIR = CATALOG_DIR / "mappings"
RELATIONSHIPS = ("equivalent-to", "superset-of", "subset-of", "intersects-with")


class MappingError(ValueError):
    """A mapping collection is not what the portal can use; the message says where and why."""


@dataclass(frozen=True)
class MapSpec:
    """One mapping entry: a source control, how it relates, a target control (qualified refs)."""

    source: str  # "<framework code>:<control id>"
    relationship: str
    target: str
    remarks: str = ""

    def flows(self) -> list[tuple[str, str]]:
        """(from, to) pairs along which a result satisfies the other requirement."""
        if self.relationship == "equivalent-to":
            return [(self.source, self.target), (self.target, self.source)]
        if self.relationship == "superset-of":
            return [(self.source, self.target)]
        if self.relationship == "subset-of":
            return [(self.target, self.source)]
        return []


def _framework(resource: dict, where: str) -> str:
    for prop in resource.get("props") or []:
        if prop.get("name") == "framework-code" and prop.get("ns") == PORTAL_NS and prop.get("value"):
            return prop["value"]
    raise MappingError(f"{where}: needs a prop framework-code (ns {PORTAL_NS}) naming its framework")


def load_mapping_collection(data: dict | bytes | str) -> tuple[MapSpec, ...]:
    """The map entries of an OSCAL mapping-collection document; raises MappingError naming the problem."""
    doc = json.loads(data) if isinstance(data, (bytes, str)) else data
    collection = doc.get("mapping-collection") if isinstance(doc, dict) else None
    if not isinstance(collection, dict):
        raise MappingError('$: required property "mapping-collection" is missing')
    out: list[MapSpec] = []
    for i, mapping in enumerate(collection.get("mappings") or []):
        where = f"$.mapping-collection.mappings[{i}]"
        source_fw = _framework(mapping.get("source-resource") or {}, f"{where}.source-resource")
        target_fw = _framework(mapping.get("target-resource") or {}, f"{where}.target-resource")
        for j, entry in enumerate(mapping.get("maps") or []):
            at = f"{where}.maps[{j}]"
            relationship = entry.get("relationship")
            if relationship not in RELATIONSHIPS:
                raise MappingError(f"{at}.relationship: {relationship!r} is not one of {', '.join(RELATIONSHIPS)}")
            for side in ("sources", "targets"):
                if not entry.get(side) or any(item.get("type") != "control" for item in entry[side]):
                    raise MappingError(f"{at}.{side}: list one or more items of type control")
            for src in entry["sources"]:
                for tgt in entry["targets"]:
                    out.append(
                        MapSpec(
                            source=control_ref(source_fw, src["id-ref"]),
                            relationship=relationship,
                            target=control_ref(target_fw, tgt["id-ref"]),
                            remarks=entry.get("remarks", ""),
                        )
                    )
    return tuple(out)


@lru_cache(maxsize=1)
def shipped_mappings() -> tuple[MapSpec, ...]:
    """Every map entry of the shipped mapping collections (static files: read once per process)."""
    out: list[MapSpec] = []
    for path in sorted(Path(MAPPING_DIR).glob("*.json")):
        try:
            out.extend(load_mapping_collection(path.read_bytes()))
        except MappingError as exc:
            raise MappingError(f"{path.name}: {exc}") from None
    return tuple(out)


def result_flows(maps: tuple[MapSpec, ...] | None = None) -> dict[str, list[str]]:
    """Qualified control ref -> the qualified refs its rule results also satisfy (one step)."""
    out: dict[str, list[str]] = {}
    for spec in shipped_mappings() if maps is None else maps:
        for source, target in spec.flows():
            targets = out.setdefault(source, [])
            if target not in targets:
                targets.append(target)
    return out


def mappings_of(ref: str, maps: tuple[MapSpec, ...] | None = None) -> list[dict]:
    """The map entries that touch one control, seen from it: {"other", "relationship", "satisfied_by_other",
    "satisfies_other", "remarks"} (relationship as read from this control's side)."""
    inverse = {"superset-of": "subset-of", "subset-of": "superset-of"}
    out = []
    for spec in shipped_mappings() if maps is None else maps:
        if ref not in (spec.source, spec.target):
            continue
        flows = spec.flows()
        if spec.source == ref:
            other, relationship = spec.target, spec.relationship
        else:
            other, relationship = spec.source, inverse.get(spec.relationship, spec.relationship)
        out.append({
            "other": other,
            "relationship": relationship,
            "satisfied_by_other": (other, ref) in flows,
            "satisfies_other": (ref, other) in flows,
            "remarks": spec.remarks,
        })  # fmt: skip
    return out
