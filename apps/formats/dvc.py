"""DVC lock files (`dvc.lock`, schema '2.0') and `.dvc` files, as YAML.

dvc.lock: `schema: '2.0'` and `stages` {name: {cmd, deps [{path, hash, md5, size,
nfiles}], params {file: {key: value}}, outs [...]}}. A `.dvc` file (`dvc add`,
`dvc import`): `outs` [{md5 | etag | checksum, size, hash, path}] and, for imports,
`deps` [{path, repo {url, rev_lock}}].

Identities (subjects.py has no md5 form, and DVC records only md5 for local data):

- data: Subject(kind="dataset", uri="dataset:md5:<32 hex>", digest="md5:<hex>",
  name=<path>); a directory keeps DVC's ".dir" suffix (uri "dataset:md5:<hex>.dir"),
  because DVC's directory hash is of the listing, not of one file's bytes.
- model outputs (an out whose file name ends in .pkl, .joblib, .pt, .pth, .onnx, .h5,
  .keras, .safetensors, .ckpt, .pb, .tflite, .cbm, .model, or which lives under a
  "model"/"models" directory): Subject(kind="file", uri="file:md5:<hex>", name=<path>).
- code (.py, .ipynb, .R, .sh, .sql, …) and params are recorded but become no subject:
  lineage is about data.
- an import's source commit: the usual commit subject (repo url + rev_lock).

Edges, per stage, from every data dependency to every output (Edge(source=dep,
target=out)): relation "trained-on" when the output is a model, else "derived-from";
from an import's commit to its outputs, "derived-from". Entries without an md5 (etag,
cloud checksums) are recorded but give no subject.

Records: one per stage entry {stage, role (dep/out/param), path, hash, md5, size,
nfiles, kind (dataset/model/code/param/other)}. Verdict: info (an inventory).
"""

from __future__ import annotations

import re

from .base import (
    MAX_LIST,
    Edge,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    guard,
    json_type,
    number,
    plural,
    text,
)
from .subjects import source_commit
from .yamlsafe import load_yaml_documents

LABEL = "DVC"
_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
MODEL_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".joblib",
    ".pt",
    ".pth",
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".safetensors",
    ".ckpt",
    ".pb",
    ".tflite",
    ".cbm",
    ".model",
)
CODE_SUFFIXES = (".py", ".ipynb", ".r", ".sh", ".sql", ".js", ".ts", ".jl", ".scala", ".java", ".go", ".rs", ".m")
MAX_STAGES = 10_000


def _md5(entry: dict) -> str:
    value = entry.get("md5", entry.get("checksum"))
    if isinstance(value, int) and not isinstance(value, bool):  # YAML read an all-digit hash as a number
        value = f"{value:032d}"
    if isinstance(value, str) and _MD5.match(value.strip().lower()):
        return value.strip().lower()
    return ""


def classify(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(MODEL_SUFFIXES) or any(part in ("model", "models") for part in lowered.split("/")[:-1]):
        return "model"
    if lowered.endswith(CODE_SUFFIXES):
        return "code"
    return "dataset"


def _subject(path: str, md5: str, kind: str) -> Subject | None:
    if not md5 or kind == "code":
        return None
    if kind == "model":
        return Subject(kind="file", uri=f"file:md5:{md5}", digest=f"md5:{md5[:32]}", name=path[:200])
    return Subject(kind="dataset", uri=f"dataset:md5:{md5}", digest=f"md5:{md5[:32]}", name=path[:200])


def _entries(value, where: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{LABEL}: {where} must be a list, got {json_type(value)}")
    out = []
    for index, entry in enumerate(value):
        if isinstance(entry, str):  # dvc.yaml style: a bare path
            entry = {"path": entry}
        if not isinstance(entry, dict):
            raise ParseError(f"{LABEL}: {where}[{index}] must be a mapping, got {json_type(entry)}")
        out.append(entry)
    return out


def _record(stage: str, role: str, entry: dict) -> dict:
    path = text(entry.get("path"), 500)
    md5 = _md5(entry)
    size = number(entry.get("size"))
    nfiles = number(entry.get("nfiles"))
    return {
        "stage": stage,
        "role": role,
        "path": path,
        "hash": text(entry.get("hash"), 20) or ("md5" if md5 else ""),
        "md5": md5,
        "etag": text(entry.get("etag"), 200),
        "size": int(size) if size is not None and 0 <= size < 1e18 else None,
        "nfiles": int(nfiles) if nfiles is not None and 0 <= nfiles < 1e12 else None,
        "kind": classify(path) if path else "other",
    }


class _Graph:
    def __init__(self):
        self.subjects: dict[str, Subject] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}

    def add(self, subject: Subject | None) -> Subject | None:
        if subject is None:
            return None
        return self.subjects.setdefault(subject.uri, subject)

    def link(self, source: Subject | None, target: Subject | None, relation: str) -> None:
        if source is None or target is None or source.uri == target.uri:
            return
        self.edges.setdefault((source.uri, target.uri, relation), Edge(source=source, target=target, relation=relation))


def _stage(name: str, stage: dict, graph: _Graph) -> tuple[list[dict], dict]:
    where = f"stages.{name}"
    deps = [_record(name, "dep", e) for e in _entries(stage.get("deps"), f"{where}.deps")]
    outs = [_record(name, "out", e) for e in _entries(stage.get("outs"), f"{where}.outs")]
    params = []
    raw_params = stage.get("params")
    if isinstance(raw_params, dict):
        for file, values in raw_params.items():
            for key in values if isinstance(values, dict) else []:
                params.append(
                    {
                        "stage": name,
                        "role": "param",
                        "path": f"{text(file, 200)}:{text(key, 200)}",
                        "hash": "",
                        "md5": "",
                        "etag": "",
                        "size": None,
                        "nfiles": None,
                        "kind": "param",
                        "value": text(values[key], 200) if not isinstance(values[key], (dict, list)) else "",
                    }
                )
    for out in outs:
        target = graph.add(_subject(out["path"], out["md5"], out["kind"]))
        for dep in deps:
            if dep["kind"] == "dataset" or (dep["kind"] == "model" and out["kind"] == "model"):
                source = graph.add(_subject(dep["path"], dep["md5"], dep["kind"]))
                graph.link(source, target, "trained-on" if out["kind"] == "model" else "derived-from")
    for dep in deps:
        graph.add(_subject(dep["path"], dep["md5"], dep["kind"]))
    info = {
        "name": name,
        "cmd": text(" && ".join(stage["cmd"]) if isinstance(stage.get("cmd"), list) else stage.get("cmd"), 300),
        "deps": [d["path"] for d in deps][:MAX_LIST],
        "outs": [o["path"] for o in outs][:MAX_LIST],
    }
    return deps + outs + params, info


def _import_commit(entry: dict) -> Subject | None:
    repo = entry.get("repo")
    if not isinstance(repo, dict):
        return None
    url, rev = repo.get("url"), repo.get("rev_lock")
    return source_commit(url, rev)


@guard(LABEL)
def parse_dvc(body: bytes) -> ParseResult:
    """Stages, data versions and lineage of a dvc.lock or .dvc file; see the module docstring."""
    docs = [d for d in load_yaml_documents(body, LABEL) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ParseError(f"{LABEL}: expected one YAML mapping (a dvc.lock or a .dvc file)")
    doc = docs[0]
    graph = _Graph()
    records: list[dict] = []
    stages_info = []
    if "stages" in doc:
        file_type = "dvc.lock"
        schema = text(doc.get("schema"), 20)
        if schema != "2.0":
            found = repr(schema) if schema else "missing"
            raise ParseError(f"{LABEL}: dvc.lock schema is {found}; only schema '2.0' (DVC 2 and 3) is read")
        stages = doc.get("stages")
        if not isinstance(stages, dict):
            raise ParseError(f"{LABEL}: stages must be a mapping of stage names, got {json_type(stages)}")
        if len(stages) > MAX_STAGES:
            raise ParseError(f"{LABEL}: more than {MAX_STAGES:,} stages")
        for name, stage in stages.items():
            if not isinstance(stage, dict):
                raise ParseError(f"{LABEL}: stages.{text(name, 100)} must be a mapping, got {json_type(stage)}")
            stage_records, info = _stage(text(name, 200), stage, graph)
            records.extend(stage_records)
            stages_info.append(info)
    elif "outs" in doc:
        file_type = ".dvc"
        schema = ""
        stage_records, info = _stage("", doc, graph)
        records.extend(stage_records)
        for entry in _entries(doc.get("deps"), "deps"):
            commit = graph.add(_import_commit(entry))
            for out in (r for r in stage_records if r["role"] == "out"):
                graph.link(commit, graph.add(_subject(out["path"], out["md5"], out["kind"])), "derived-from")
    else:
        raise ParseError(f"{LABEL}: neither 'stages' (dvc.lock) nor 'outs' (.dvc file) found")

    outs = [r for r in records if r["role"] == "out"]
    summary = {
        "file_type": file_type,
        "schema": schema,
        "stages_total": len(stages_info),
        "stages": stages_info[:MAX_LIST],
        "outputs_total": len(outs),
        "datasets": list(
            {
                (r["path"], r["md5"]): {"path": r["path"], "md5": r["md5"], "size": r["size"]}
                for r in records
                if r["kind"] == "dataset" and r["md5"]
            }.values()
        )[:MAX_LIST],
        "models": [{"path": r["path"], "md5": r["md5"], "stage": r["stage"]} for r in outs if r["kind"] == "model"][
            :MAX_LIST
        ],
        "without_md5": [r["path"] for r in records if r["role"] in ("dep", "out") and not r["md5"]][:MAX_LIST],
        "lineage_edges": len(graph.edges),
    }
    if file_type == "dvc.lock":
        title = f"DVC pipeline: {plural(len(stages_info), 'stage')}, {plural(len(outs), 'output')}"
    else:
        title = "DVC data: " + (", ".join(r["path"] for r in outs[:3]) or "no outputs")
    reason = f"{plural(len(graph.subjects), 'versioned artifact')}, {plural(len(graph.edges), 'lineage edge')}"
    evidence = EvidenceFacts(
        kind="data-version",
        title=text(title, 200),
        verdict="info",
        verdict_reason=reason,
        effective_at=None,
        subjects=list(graph.subjects.values()),
        summary=summary,
        edges=list(graph.edges.values()),
        records=records,
    )
    return ParseResult(format="dvc", evidence=[evidence])
