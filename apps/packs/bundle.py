"""The pack's ZIP: the report, each raw evidence file once, a manifest, its DSSE signature, a README.

The manifest is signed as a DSSE envelope (Ed25519) over an in-toto Statement v1 whose
subjects are every file of the ZIP with its sha256, the manifest included. The verifier is
NOT in the ZIP: a pack cannot vouch for the program that checks it. The README tells the
reader to take the verifier and the keys from the portal (apps/packs/verifier.py, /verify/).
Raw files are streamed from the blob store into the ZIP, never held whole in memory.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from apps.ingest.blobs import blob_open
from apps.ledger.checkpoint import Signer
from apps.ledger.services import trusted_verifier_keys
from apps.packs.offline.core import ENVELOPE, MANIFEST, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, pae

APP_DIR = Path(__file__).resolve().parent
# How to verify the pack: (path in the ZIP, our source file). Only instructions, no code to run.
VERIFIER_FILES = [
    ("README.md", APP_DIR / "offline" / "README.md"),
]


@dataclass(frozen=True)
class PackKey:
    """The key that signs pack manifests, and its public verifier key (Go note format)."""

    private: Ed25519PrivateKey
    vkey: str


def pack_signing_key() -> PackKey:
    """PORTAL_PACK_SIGNING_KEY, or the ledger's key when none is set (one key to publish)."""
    skey = settings.PORTAL_PACK_SIGNING_KEY or settings.PORTAL_LEDGER_SIGNING_KEY
    signer = Signer.from_skey(skey)  # validates name, key id and encoding
    seed = base64.b64decode(skey.split("+", 4)[4])[1:]
    return PackKey(private=Ed25519PrivateKey.from_private_bytes(seed), vkey=signer.verifier_key())


def trusted_pack_keys() -> list[str]:
    """Keys `manage.py verify_pack` trusts: the pack key and the ledger's current and earlier keys."""

    keys = [pack_signing_key().vkey]
    return keys + [k for k in trusted_verifier_keys() if k not in keys]


def dsse_sign(payload: bytes, key: PackKey) -> dict:
    """A DSSE envelope of an in-toto payload, signed over PAE(type, payload)."""
    signature = key.private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key.vkey, "sig": base64.b64encode(signature).decode("ascii")}],
    }


class ZipBuilder:
    """Writes a pack ZIP file by file, remembering each file's sha256 and size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True)
        self.files: dict[str, tuple[str, int]] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self.zip.writestr(_info(name), data)
        self.files[name] = (hashlib.sha256(data).hexdigest(), len(data))

    def add_stream(self, name: str, source) -> None:
        """Copy a binary file object into the ZIP in 1 MiB blocks, hashing as it goes."""
        h = hashlib.sha256()
        size = 0
        with self.zip.open(_info(name), "w", force_zip64=True) as out:
            while block := source.read(1 << 20):
                h.update(block)
                size += len(block)
                out.write(block)
        self.files[name] = (h.hexdigest(), size)

    def close(self) -> None:
        self.zip.close()


def _info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp: the same content gives the same ZIP entries.
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def evidence_paths(items) -> dict[int, list[str]]:
    """Each evidence item's paths in the ZIP: `<control>/<day> <kind> <system> <sha256 start>….<ext>`, one per
    control it supports (or `other-evidence/`). A name already taken by another file gets more of the sha256."""
    taken: dict[str, str] = {}
    paths: dict[int, list[str]] = {}
    for item in items:
        names = []
        for folder in item.folders():
            for digits in (8, 16, 64):
                name = f"{folder}/{item.readable_name(digits)}"
                if taken.setdefault(name, item.sha256) == item.sha256:
                    break
            if name not in names:
                names.append(name)
        paths[item.id] = names
    return paths


INDEX_COLUMNS = ["file", "control", "evidence", "title", "kind", "system", "effective_at", "sha256", "request",
                 "sample_item", "ledger_index"]


def working_paper_rows(items, paths: dict[int, list[str]], proofs: dict[int, dict], *, absent: dict[str, str]):
    """The index: one row per file and the control its folder stands for, mapping it to the evidence item,
    the evidence requests it answered, the sample items that drew it and its ledger entry."""
    rows = []
    for item in items:
        controls = item.controls or [""]
        names = paths[item.id] if item.sha256 not in absent else [""] * len(controls)
        ledger = proofs.get(item.id) or {}
        for name, control in zip(names, controls, strict=False):
            rows.append({
                "file": name or f"(absent: {absent.get(item.sha256, '')})",
                "control": control,
                "evidence": f"E{item.id}",
                "title": item.title,
                "kind": item.kind,
                "system": item.system,
                "effective_at": item.effective_at.isoformat(),
                "sha256": item.sha256,
                "request": "; ".join(item.requests),
                "sample_item": "; ".join(item.sample_items),
                "ledger_index": ledger.get("index", ""),
            })
    return rows


def add_working_paper(builder: ZipBuilder, items, paths, proofs, *, absent: dict[str, str]) -> None:
    """index.csv and index.xlsx: the same rows, for a spreadsheet or a script."""

    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads only where a workbook is written

    rows = working_paper_rows(list(items), paths, proofs, absent=absent)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    builder.add_bytes("index.csv", text.getvalue().encode("utf-8"))

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Evidence index")
    sheet.append(INDEX_COLUMNS)
    for row in rows:
        sheet.append([_cell(row[c]) for c in INDEX_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    builder.add_bytes("index.xlsx", _fixed_zip_times(out.getvalue()))


def _cell(value):
    # A spreadsheet reads a leading =, +, - or @ as a formula: evidence titles come from outside.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _fixed_zip_times(xlsx: bytes) -> bytes:
    """The XLSX (itself a ZIP) with fixed entry times, so the same content gives the same bytes."""

    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(_info(info.filename), source.read(info.filename))
    return out.getvalue()


def add_ledger_entries(builder: ZipBuilder, rows: list[dict]) -> None:
    """ledger.jsonl: the scope's entries as the report lists them, one JSON object a line: index, leaf hash
    and the entry's canonical JSON (RFC 8785, the hashed bytes: sha256(0x00 ‖ entry) is the leaf hash)."""
    lines = [json.dumps({"index": r["index"], "leaf_hash": r["leaf_hash"], "entry": r["entry"]},
                        ensure_ascii=False, separators=(",", ":")) for r in rows]
    builder.add_bytes("ledger.jsonl", ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))


def add_verifier(builder: ZipBuilder) -> None:
    for name, source in VERIFIER_FILES:
        builder.add_bytes(name, source.read_bytes())


def sign_and_close(builder: ZipBuilder, manifest: dict, key: PackKey, *, predicate: dict) -> None:
    """Write manifest.json, then the signed statement over every file, and close the ZIP."""
    manifest = {**manifest, "files": [
        {"name": name, "sha256": digest, "size": size} for name, (digest, size) in sorted(builder.files.items())
    ]}
    builder.add_bytes(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str).encode("utf-8"))
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": digest}} for name, (digest, _) in sorted(builder.files.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {**predicate, "signing_key": key.vkey},
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    envelope = dsse_sign(payload, key)
    builder.zip.writestr(_info(ENVELOPE), json.dumps(envelope, indent=1).encode("utf-8"))
    builder.close()


def zip_evidence(builder, evidence) -> tuple[dict, dict[str, str]]:
    """Stream each raw body into the ZIP under its paths; returns the paths and why bodies are absent."""
    absent: dict[str, str] = {}
    paths = evidence_paths(evidence)
    for item in evidence:
        if item.sha256 in absent:
            continue
        for name in paths[item.id]:
            if name in builder.files:
                continue
            try:
                with blob_open(item.sha256) as fh:
                    builder.add_stream(name, fh)
            except FileNotFoundError:
                absent[item.sha256] = "the raw body is no longer stored (disposed of under the retention policy)"
                break
    return paths, absent


def evidence_entries(evidence, paths: dict, proofs: dict, absent: dict[str, str]) -> list[dict]:
    """The manifest's evidence list: each item, its ledger proof, and its file (or why it is absent)."""
    entries = []
    for item in evidence:
        entry = {
            "id": item.id,
            "title": item.title,
            "kind": item.kind,
            "format": item.format,
            "verdict": item.verdict,
            "source": item.source,
            "effective_at": item.effective_at.isoformat(),
            "sha256": item.sha256,
            "controls": item.controls,
            "ledger": proofs.get(item.id),
        }
        if item.sha256 in absent:
            entry["file_absent_reason"] = absent[item.sha256]
        else:
            entry["file"] = paths[item.id][0]
            entry["copies"] = paths[item.id][1:]  # the same file in the folders of its other controls
        entries.append(entry)
    return entries


def pack_manifest(pack, content, meta: dict, checkpoint, key, entries: list, *, pages: int, ledger_extra: dict) -> dict:
    """The signed manifest: pack, scope, controls, exceptions, evidence and the ledger checkpoint."""
    return {
        "format": "compliance-portal evidence pack v1",
        "pack": {
            "id": pack.pk,
            "reference": pack.reference,
            "requested_by": pack.requester.username,
            "requested_at": pack.requested_at.isoformat(),
            "generated_at": meta["generated_at"].isoformat(),
            "pages": pages,
        },
        "scope": {
            "kind": pack.scope_kind,
            "label": pack.scope_label,
            "params": pack.scope,
            "period_start": pack.period_start.isoformat() if pack.period_start else None,
            "period_end": pack.period_end.isoformat() if pack.period_end else None,
            "systems": [{"id": s.pk, "slug": s.slug, "name": s.name} for s in content.systems],
        },
        "controls": [
            {"control_id": c.control_id, "label": c.label, "status": c.status, "evidence": c.evidence_ids}
            for c in content.controls
        ],
        "exceptions": [
            {"reference": e["reference"], "control": e["control_id"], "status": e["status_code"],
             "expires_at": e["expires_at"].isoformat(),
             "decisions": [{"decision": a["decision"], "by": a["approver"], "at": a["at"].isoformat(),
                            "voided": a["voided"]} for a in e["approvals"]]}
            for e in content.exceptions
        ],
        "evidence": entries,
        "ledger": {
            "origin": meta["checkpoint_origin"],
            "checkpoint": checkpoint.note,
            "size": checkpoint.size,
            "root": meta["checkpoint_root"],
            "verifier_keys": [checkpoint.verifier_key],
            **ledger_extra,
        },
        "signing_key": key.vkey,
    }
