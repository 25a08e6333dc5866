"""Kubernetes manifests: YAML (multi-document) or JSON, including `kind: List`.

YAML goes through `yamlsafe.load_yaml_documents` (safe loader, alias bombs, cycles
and oversized files refused). Workloads are Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job and CronJob; every container, init container
and ephemeral container of their pod template becomes one record:

    {
      "kind": "Deployment", "namespace": "clinic", "workload": "api",
      "object": "clinic/Deployment/api", "container": "api", "container_type": "container",
      "image": "ghcr.io/acme/api@sha256:…", "image_digest": "sha256:…" | "", "image_tag": "1.4.2" | "",
      "pinned_by_digest": true,
      "privileged": true | false | null,               # null: not set (Kubernetes default false)
      "allow_privilege_escalation": true | false | null, # null: not set (Kubernetes default true)
      "read_only_root_filesystem": true | false | null,
      "run_as_non_root": true | false | null,          # container, else pod securityContext
      "run_as_user": 0 | … | null,
      "capabilities_added": ["SYS_ADMIN"],
      "host_paths": ["/"],                             # hostPath volumes this container mounts
      "host_network": bool, "host_pid": bool, "host_ipc": bool,
      "service_account": "api",                        # "default" when none is named
      "automount_service_account_token": true | false | null,
      "limits_cpu": "500m" | "", "limits_memory": "256Mi" | "", "has_limits": bool,  # both set
      "findings": ["privileged", …]
    }

A namespace left out of the manifest is recorded as "" (the namespace it lands in is
decided at apply time). Images pinned by digest become image subjects
(oci://registry/repo@sha256:…); tag-only images stay in the records.

Findings per container: privileged; allowPrivilegeEscalation true (explicit); hostPath
volume; hostNetwork/hostPID/hostIPC; added capability SYS_ADMIN, NET_ADMIN, ALL or
similar; runs as root (runAsUser 0); image not pinned by digest; no resource limits.

Verdict: always info. Whether privileged pods or host paths break a control depends
on the system (for example one holding PHI), which the rules decide.
"""

from __future__ import annotations

from collections import Counter

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    guard,
    json_type,
    load_json,
    plural,
    text,
)
from .subjects import image_subject
from .yamlsafe import load_yaml_documents

LABEL = "Kubernetes"
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = (("containers", "container"), ("initContainers", "init"), ("ephemeralContainers", "ephemeral"))
DANGEROUS_CAPABILITIES = {"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "BPF"}
MAX_OBJECTS = 10_000


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _bool(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _quantity(value) -> str:
    """'500m', '256Mi' or a bare number such as 2, as text; '' when unset."""
    return text(value, 40)


def split_image(ref: str) -> tuple[str, str, str]:
    """'ghcr.io/a/b:1.0@sha256:…' -> ('ghcr.io/a/b', '1.0', 'sha256:…')."""
    name, _, digest = ref.partition("@")
    last_slash = name.rfind("/")
    colon = name.find(":", last_slash + 1)
    tag = name[colon + 1 :] if colon != -1 else ""
    repo = name[:colon] if colon != -1 else name
    return repo, tag, digest


def _objects(docs: list) -> list[dict]:
    """Kubernetes objects of the documents, with `List` kinds flattened (one level)."""
    out = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue  # an empty document between two '---'
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                raise ParseError(f"{LABEL}: document {index + 1} is {json_type(item)}, expected a Kubernetes object")
            kind = item.get("kind")
            if isinstance(kind, str) and kind.endswith("List") and isinstance(item.get("items"), list):
                out.extend(entry for entry in item["items"] if isinstance(entry, dict))
            else:
                out.append(item)
            if len(out) > MAX_OBJECTS:
                raise ParseError(f"{LABEL}: more than {MAX_OBJECTS:,} objects; split the upload")
    return out


def _pod_spec(obj: dict, kind: str) -> dict:
    node = obj
    for step in POD_SPEC_PATHS[kind]:
        node = _dict(node.get(step)) if isinstance(node, dict) else {}
    return node


def _container_record(container: dict, ctype: str, pod: dict, base: dict, host_volumes: dict[str, str]) -> dict:
    security = _dict(container.get("securityContext"))
    pod_security = _dict(pod.get("securityContext"))
    image = text(container.get("image"), 500)
    repo, tag, digest = split_image(image)
    limits = _dict(_dict(container.get("resources")).get("limits"))
    mounts = [m for m in _list(container.get("volumeMounts")) if isinstance(m, dict)]
    host_paths = [
        host_volumes[m["name"]] for m in mounts if isinstance(m.get("name"), str) and m["name"] in host_volumes
    ]
    added = [text(c, 50) for c in _list(_dict(security.get("capabilities")).get("add")) if isinstance(c, str)]
    run_as_non_root = _bool(security.get("runAsNonRoot"))
    if run_as_non_root is None:
        run_as_non_root = _bool(pod_security.get("runAsNonRoot"))
    run_as_user = _int(security.get("runAsUser"))
    if run_as_user is None:
        run_as_user = _int(pod_security.get("runAsUser"))
    record = {
        **base,
        "container": text(container.get("name"), 200),
        "container_type": ctype,
        "image": image,
        "image_digest": text(digest, 200),
        "image_tag": text(tag, 200),
        "pinned_by_digest": bool(digest),
        "privileged": _bool(security.get("privileged")),
        "allow_privilege_escalation": _bool(security.get("allowPrivilegeEscalation")),
        "read_only_root_filesystem": _bool(security.get("readOnlyRootFilesystem")),
        "run_as_non_root": run_as_non_root,
        "run_as_user": run_as_user,
        "capabilities_added": added[:20],
        "host_paths": host_paths[:20],
        "limits_cpu": _quantity(limits.get("cpu")),
        "limits_memory": _quantity(limits.get("memory")),
    }
    record["has_limits"] = bool(record["limits_cpu"] and record["limits_memory"])
    findings = []
    if record["privileged"]:
        findings.append("privileged")
    if record["allow_privilege_escalation"]:
        findings.append("allowPrivilegeEscalation true")
    for path in record["host_paths"]:
        findings.append(f"hostPath volume {path}")
    for flag, name in (("host_network", "hostNetwork"), ("host_pid", "hostPID"), ("host_ipc", "hostIPC")):
        if record[flag]:
            findings.append(name)
    for capability in added:
        if capability.upper().removeprefix("CAP_") in DANGEROUS_CAPABILITIES:
            findings.append(f"adds capability {capability}")
    if run_as_user == 0:
        findings.append("runs as root (runAsUser 0)")
    if image and not digest:
        findings.append("image not pinned by digest")
    if not record["has_limits"]:
        findings.append("no cpu and memory limits")
    record["findings"] = findings
    record["_repo"] = repo
    return record


def _read(body: bytes) -> list:
    start = bytes(body[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith((b"{", b"[")):
        return [load_json(body, LABEL)]
    return load_yaml_documents(body, LABEL)


@guard(LABEL)
def parse_kubernetes(body: bytes) -> ParseResult:
    """Workloads and their containers' security settings; see the module docstring."""
    objects = _objects(_read(body))
    k8s = [o for o in objects if isinstance(o.get("kind"), str) and isinstance(o.get("apiVersion"), str)]
    if not k8s:
        raise ParseError(f"{LABEL}: no object with apiVersion and kind; expected Kubernetes manifests")
    by_kind: Counter = Counter()
    records: list[dict] = []
    workloads = 0
    subjects: dict[str, Subject] = {}
    bad_images = 0
    service_accounts: Counter = Counter()
    for item in k8s:
        kind = text(item["kind"], 100)
        by_kind[kind] += 1
        if kind not in POD_SPEC_PATHS:
            continue
        workloads += 1
        meta = _dict(item.get("metadata"))
        namespace = text(meta.get("namespace"), 200)
        name = text(meta.get("name"), 300) or text(meta.get("generateName"), 300)
        pod = _pod_spec(item, kind)
        host_volumes = {}
        for volume in _list(pod.get("volumes")):
            if isinstance(volume, dict) and isinstance(volume.get("name"), str) and "hostPath" in volume:
                host_volumes[volume["name"]] = text(_dict(volume.get("hostPath")).get("path"), 300) or "(no path)"
        account = text(pod.get("serviceAccountName") or pod.get("serviceAccount"), 200) or "default"
        service_accounts[account] += 1
        base = {
            "kind": kind,
            "namespace": namespace,
            "workload": name,
            "object": f"{namespace or '-'}/{kind}/{name}",
            "host_network": pod.get("hostNetwork") is True,
            "host_pid": pod.get("hostPID") is True,
            "host_ipc": pod.get("hostIPC") is True,
            "service_account": account,
            "automount_service_account_token": _bool(pod.get("automountServiceAccountToken")),
        }
        for key, ctype in CONTAINER_LISTS:
            for container in _list(pod.get(key)):
                if not isinstance(container, dict):
                    continue
                record = _container_record(container, ctype, pod, base, host_volumes)
                repo = record.pop("_repo")
                if record["image_digest"]:
                    try:
                        subject = image_subject(repo, record["image_digest"])
                        subjects.setdefault(subject.uri, subject)
                    except ParseError:
                        bad_images += 1
                records.append(record)

    def where(r: dict) -> str:
        return f"{r['object']}:{r['container']}"

    findings = [
        {"object": r["object"], "container": r["container"], "issue": f} for r in records for f in r["findings"]
    ]
    images = list(dict.fromkeys(r["image"] for r in records if r["image"]))
    summary = {
        "objects_total": len(k8s),
        "by_kind": dict(by_kind.most_common(MAX_LIST)),
        "workloads_total": workloads,
        "containers_total": len(records),
        "privileged": [where(r) for r in records if r["privileged"]][:MAX_LIST],
        "host_paths": [f"{where(r)} {p}" for r in records for p in r["host_paths"]][:MAX_LIST],
        "host_namespaces": [where(r) for r in records if r["host_network"] or r["host_pid"] or r["host_ipc"]][
            :MAX_LIST
        ],
        "privilege_escalation_allowed": [where(r) for r in records if r["allow_privilege_escalation"]][:MAX_LIST],
        "read_only_root_filesystem": sum(1 for r in records if r["read_only_root_filesystem"]),
        "run_as_non_root": sum(1 for r in records if r["run_as_non_root"]),
        "without_limits": [where(r) for r in records if not r["has_limits"]][:MAX_LIST],
        "pinned_by_digest": sum(1 for r in records if r["pinned_by_digest"]),
        "not_pinned": [where(r) for r in records if r["image"] and not r["pinned_by_digest"]][:MAX_LIST],
        "images_total": len(images),
        "images": images[:MAX_LIST],
        "unreadable_image_digests": bad_images,
        "service_accounts": dict(service_accounts.most_common(MAX_LIST)),
        "findings_total": len(findings),
        "findings": findings[:MAX_LIST],
    }
    title = (
        f"Kubernetes manifests: {plural(workloads, 'workload')}, {plural(len(records), 'container')}, "
        f"{len(summary['privileged'])} privileged"
    )
    reason = f"{plural(len(records), 'container')} with {plural(len(findings), 'finding')}; the rules decide"
    evidence = EvidenceFacts(
        kind="kubernetes-manifests",
        title=title,
        verdict="info",
        verdict_reason=reason,
        effective_at=None,
        subjects=list(subjects.values()),
        summary=summary,
        records=records,
    )
    return ParseResult(format="kubernetes", evidence=[evidence])
