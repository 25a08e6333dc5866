"""OSCAL catalogs into Framework + Control: the shipped ones and imported ones."""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.ledger.services import ledger_record
from apps.policy.models import (
    Control,
    Framework,
)
from apps.policy.oscal import CatalogSpec, ControlSpec, OscalError, load_catalog, shipped_catalogs
from apps.policy.services.access import ensure_can_edit_rules

# ---------------------------------------------------------------- catalogs


def _catalog_store(spec: CatalogSpec, *, origin: str, actor, record: bool = True) -> tuple[Framework, bool]:
    """Create or update one framework and its controls; returns (framework, changed)."""
    now = timezone.now()
    # Control ids are unique per framework only (the constraint control_id_unique_per_framework):
    # a second NIST SP 800-53 baseline reuses "ac-1"; rules tell them apart by "<code>:<id>".
    framework = Framework.objects.select_for_update().filter(code=spec.code).first()
    same = (
        framework is not None
        and framework.version == spec.version
        and framework.last_modified == spec.last_modified
        and framework.title == spec.title
        and set(framework.controls.values_list("control_id", flat=True)) == set(spec.control_ids())
    )
    if same:
        return framework, False
    if framework is None:
        framework = Framework(code=spec.code)
    framework.title = spec.title[:300]
    framework.version = spec.version[:100]
    framework.oscal_version = spec.oscal_version[:20]
    framework.catalog_uuid = spec.uuid
    framework.last_modified = spec.last_modified[:40]
    framework.origin = origin
    framework.loaded_at = now
    framework.save()
    existing = {c.control_id: c for c in framework.controls.all()}
    by_id: dict[str, Control] = {}
    for c in sorted(spec.controls, key=lambda c: c.order):
        control = existing.get(c.id) or Control(framework=framework, control_id=c.id)
        control.label = c.label[:100]
        control.title = c.title[:300]
        control.description = c.description
        control.parent = by_id.get(c.parent_id) if c.parent_id else None
        control.group_title = c.group_title[:300]
        control.order = c.order
        control.depth = c.depth
        control.save()
        by_id[c.id] = control
    # Controls a new catalog version dropped stay (results may name them); they sort last.
    if not record:
        return framework, True
    ledger_record(
        actor=actor,
        action="framework.loaded",
        target=framework,
        data={"code": spec.code, "version": spec.version, "controls": len(spec.controls), "origin": origin},
    )
    return framework, True


@transaction.atomic
def catalogs_load_shipped(*, actor="system:load_catalogs", record: bool = True) -> int:
    """Load the shipped OSCAL catalogs (idempotent: an unchanged catalog writes nothing); returns how many changed.

    `record=False` (after migrate) writes no ledger entries: the shipped catalogs are part of
    the release, reproducible from the code, not a change anybody made; imports are recorded."""
    changed = 0
    for spec in shipped_catalogs().values():
        _framework, did = _catalog_store(spec, origin=Framework.Origin.SHIPPED, actor=actor, record=record)
        changed += did
    return changed


@transaction.atomic
def catalog_import(*, actor, data: bytes | str | dict, code: str | None = None) -> Framework:
    """Import a programme's own framework from an OSCAL catalog; raises ValidationError saying what is wrong."""
    ensure_can_edit_rules(actor)
    try:
        spec = load_catalog(data, code=code)
    except OscalError as exc:
        raise ValidationError(f"not a valid OSCAL catalog: {exc}") from None
    if spec.code in shipped_catalogs():
        existing = Framework.objects.filter(code=spec.code, origin=Framework.Origin.SHIPPED).exists()
        if existing:
            raise ValidationError(f"framework code {spec.code!r} is a shipped framework; give the import another code")
    framework, _ = _catalog_store(spec, origin=Framework.Origin.IMPORTED, actor=actor)
    return framework


def catalog_specs_in_db() -> dict[str, CatalogSpec]:
    """Minimal CatalogSpecs of every loaded framework (control ids only), for rule validation."""

    out: dict[str, list] = defaultdict(list)
    for code, control_id in Control.objects.values_list("framework__code", "control_id"):
        out[code].append(control_id)
    return {
        code: CatalogSpec(
            code=code,
            title=code,
            version="",
            oscal_version="",
            uuid="",
            last_modified="",
            controls=tuple(
                ControlSpec(
                    id=cid, label=cid, title=cid, description="", parent_id=None, group_id=None, group_title="",
                    order=i, depth=0,
                )
                for i, cid in enumerate(ids)
            ),
        )
        for code, ids in out.items()
    }  # fmt: skip
