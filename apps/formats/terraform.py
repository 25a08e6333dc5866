"""Terraform plans and states in their JSON form (`terraform show -json`).

Both documents carry `format_version` "1.x" (Terraform 1.1 onwards), "0.2" (0.15 to
1.0) or "0.1" (0.12 to 0.14); the older two have the same structure, less some later
additions (sensitive markers, relevant_attributes, timestamp) that are not needed here.
Any other version is refused, as Terraform's JSON output format asks. A plan has `planned_values` and/or
`resource_changes` (plus `configuration`, `prior_state`, `variables`); a state has
`values.root_module`. Every managed resource instance (data sources are skipped) in
the root module and all nested `child_modules` becomes one record:

    {
      "address": "module.audit.aws_s3_bucket.trail[0]", "type": "aws_s3_bucket",
      "name": "trail", "module": "module.audit", "provider": "aws",
      "region": "eu-west-1",        # resource attribute region/location/availability_zone,
                                    # else its provider configuration's region (plans), else ""
      "action": "create",           # plans: create, update, replace, no-op, read; states: ""
      "encryption": null | {"at_rest": true|false, "algorithm": "aws:kms", "kms_key": "<arn or
                     reference such as aws_kms_key.data.arn>", "detail": "..."},
      "public": null | true | false, "public_reasons": ["acl public-read", ...],
      "public_access_block": null | {"block_public_acls": bool, ..., "all": bool},
      "tls": null | {"protocol": "HTTPS", "ssl_policy": "...", "min_tls_version": "1.0"|"1.1"|
                     "1.2"|"1.3"|"", "plaintext": bool},
      "log_retention_days": null | int,   # 0 = never expires
      "iam_wildcards": [{"sid", "effect", "actions": ["*"], "resource_wildcard": bool}],
      "findings": ["not encrypted at rest", ...]
    }

`encryption` is null for resource types that store nothing. A value that is only
known after apply is taken from the plan's configuration expression instead: a
`kms_master_key_id = aws_kms_key.data.arn` shows as kms_key "aws_kms_key.data.arn".
Settings that live in their own resources are attached to their bucket, matched by the
configuration's reference or by bucket name: `aws_s3_bucket_server_side_encryption_
configuration`, `_public_access_block`, `_acl` and `_policy` to the S3 bucket, and
`google_storage_bucket_iam_member/_binding` granting allUsers to the GCS bucket. An S3
bucket without an explicit encryption configuration counts as not encrypted: the
default SSE-S3 that AWS applies is not evidence of a managed key. Platforms that always
encrypt (GCS, Cloud SQL, Azure Storage, DynamoDB, CloudWatch Logs) say at_rest true
with kms_key "" unless a customer key is named. Regions are lowercased, spaces
removed ("West Europe" -> "westeurope").

Findings (one per resource and issue, `issue` text): "not encrypted at rest";
"public: <reasons>"; "no public access block" (S3); "plain HTTP listener without a
redirect to HTTPS"; "accepts unencrypted connections"; "TLS policy <name> allows TLS
<1.0|1.1>"; "IAM statement allows <actions> on Resource '*'|on named resources" (also
for an AdministratorAccess attachment). Log retention and regions are facts only,
because the acceptable values are per-system settings of the rules.

Verdict: always info. Whether a finding breaks a control depends on the system
(PHI, allowed regions, required retention), which the rules decide; the reason
counts resources and findings.

This module reads the document; `terraform_safeguards.py` reads each resource's safeguards.
"""

from __future__ import annotations

from collections import Counter

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    arr,
    guard,
    iso,
    load_json_object,
    obj,
    parse_datetime,
    plural,
    text,
)

# iam_wildcards and tls_version_of stay importable from here: they are part of this module's interface
from .terraform_safeguards import (  # noqa: F401
    _attach_s3_satellites,
    _blocks,
    _findings,
    _first,
    _record,
    _strings,
    _strip_index,
    iam_wildcards,
    tls_version_of,
)

LABEL = "Terraform"
MAX_MODULE_DEPTH = 100

# --- the document ---------------------------------------------------------------------


class _Config:
    """What the plan's `configuration` says: provider regions and attribute expressions."""

    def __init__(self, doc: dict):
        self.providers: dict[str, str] = {}
        self.resources: dict[tuple[str, str], dict] = {}
        configuration = doc.get("configuration") if isinstance(doc.get("configuration"), dict) else {}
        variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
        for key, provider in (configuration.get("provider_config") or {}).items():
            if not isinstance(provider, dict) or not isinstance(key, str):
                continue
            expressions = provider.get("expressions") if isinstance(provider.get("expressions"), dict) else {}
            region = self._constant(expressions.get("region"), variables) or self._constant(
                expressions.get("location"), variables
            )
            if region:
                self.providers[key] = region
        stack = [("", configuration.get("root_module"), 0)]
        while stack:
            prefix, module, depth = stack.pop()
            if not isinstance(module, dict) or depth > MAX_MODULE_DEPTH:
                continue
            for resource in _blocks(module.get("resources")):
                address = resource.get("address")
                if isinstance(address, str):
                    self.resources[(prefix, address)] = resource
            calls = module.get("module_calls")
            for name, call in calls.items() if isinstance(calls, dict) else []:
                if isinstance(call, dict) and isinstance(name, str):
                    child = f"{prefix}.module.{name}" if prefix else f"module.{name}"
                    stack.append((child, call.get("module"), depth + 1))

    @staticmethod
    def _constant(expression, variables: dict) -> str:
        if not isinstance(expression, dict):
            return ""
        if isinstance(expression.get("constant_value"), str):
            return expression["constant_value"]
        for reference in _strings(expression.get("references")):
            if reference.startswith("var."):
                variable = variables.get(reference[4:])
                if isinstance(variable, dict) and isinstance(variable.get("value"), str):
                    return variable["value"]
        return ""

    def resource(self, module: str, address: str) -> dict:
        local = _strip_index(address)
        if module and local.startswith(module + "."):
            local = local[len(module) + 1 :]
        return self.resources.get((_strip_index(module), local), {})

    def region(self, module: str, address: str, provider: str) -> str:
        resource = self.resource(module, address)
        key = resource.get("provider_config_key")
        candidates = []
        if isinstance(key, str):
            candidates += [key, key.split(":", 1)[-1]]
        candidates.append(provider)
        for candidate in candidates:
            if candidate in self.providers:
                return self.providers[candidate]
        return ""

    def reference(self, module: str, address: str, *path: str) -> str:
        """The first reference of a configuration expression, e.g. 'aws_kms_key.data.arn'."""
        node = self.resource(module, address).get("expressions")
        for step in path:
            node = _first(node) if isinstance(node, list) else node
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict):
            references = _strings(node.get("references"))
            if references:
                return references[0]
        return ""


def _walk_modules(root: dict, where: str) -> list[tuple[str, dict]]:
    """(module address, resource) for every resource of `root` and its child modules."""
    out = []
    stack = [(root, 0)]
    while stack:
        module, depth = stack.pop()
        if depth > MAX_MODULE_DEPTH:
            raise ParseError(f"{LABEL}: {where} nests modules more than {MAX_MODULE_DEPTH} deep")
        address = text(module.get("address"), 500)
        for index, resource in enumerate(arr(module.get("resources"), f"{where} resources", LABEL)):
            resource = obj(resource, f"{where} resources[{index}]", LABEL, required=True)
            out.append((address, resource))
        for index, child in enumerate(arr(module.get("child_modules"), f"{where} child_modules", LABEL)):
            stack.append((obj(child, f"{where} child_modules[{index}]", LABEL, required=True), depth + 1))
    return out


def _action(actions) -> str:
    actions = _strings(actions)
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def _instances(doc: dict) -> tuple[str, list[dict], Counter]:
    """('plan'|'state', [{module, address, type, name, provider, values, action}], action counts)."""
    actions: dict[str, str] = {}
    action_counts: Counter = Counter()
    after_values: dict[str, dict] = {}
    is_plan = "planned_values" in doc or "resource_changes" in doc
    for index, change in enumerate(arr(doc.get("resource_changes"), "resource_changes", LABEL)):
        change = obj(change, f"resource_changes[{index}]", LABEL, required=True)
        if change.get("mode", "managed") != "managed":
            continue
        address = text(change.get("address"), 1000)
        detail = obj(change.get("change"), f"resource_changes[{index}].change", LABEL)
        action = _action(detail.get("actions"))
        actions[address] = action
        action_counts[action or "unknown"] += 1
        if isinstance(detail.get("after"), dict):
            after_values[address] = {
                "values": detail["after"],
                "module": text(change.get("module_address"), 500),
                "type": change.get("type"),
                "name": change.get("name"),
                "provider_name": change.get("provider_name"),
            }
    if is_plan:
        root = doc.get("planned_values")
        root = obj(root, "planned_values", LABEL).get("root_module") if root is not None else None
        where = "planned_values.root_module"
    else:
        values = obj(doc.get("values"), "values", LABEL)
        root = values.get("root_module")
        where = "values.root_module"
    rows = []
    seen = set()
    if root is not None:
        for module, resource in _walk_modules(obj(root, where, LABEL), where):
            if resource.get("mode", "managed") != "managed":
                continue
            address = text(resource.get("address"), 1000)
            seen.add(address)
            rows.append(
                {
                    "module": module,
                    "address": address,
                    "type": resource.get("type"),
                    "name": resource.get("name"),
                    "provider_name": resource.get("provider_name"),
                    "values": resource.get("values") if isinstance(resource.get("values"), dict) else {},
                    "action": actions.get(address, "no-op" if is_plan and actions else ""),
                }
            )
    for address, after in after_values.items():  # plans without planned_values
        if address not in seen:
            rows.append({**after, "address": address, "action": actions.get(address, "")})
    return ("plan" if is_plan else "state"), rows, action_counts


LEGACY_FORMATS = ("0.1", "0.2")  # Terraform 0.12-0.14 and 0.15-1.0


@guard(LABEL)
def parse_terraform(body: bytes) -> ParseResult:
    """Resources of a plan or state with their region and safeguard attributes; see the module docstring."""
    doc = load_json_object(body, LABEL)
    version = doc.get("format_version")
    if not isinstance(version, str) or not version:
        raise ParseError(f"{LABEL}: format_version is missing; expected the output of `terraform show -json`")
    if version.split(".", 1)[0] != "1" and version not in LEGACY_FORMATS:
        raise ParseError(
            f"{LABEL}: format_version {text(version, 20)!r} is not supported; only 0.1, 0.2 and 1.x are"
        )
    if not any(key in doc for key in ("planned_values", "resource_changes", "values", "terraform_version")):
        raise ParseError(
            f"{LABEL}: neither planned_values/resource_changes (a plan) nor values (a state); "
            "expected the output of `terraform show -json`"
        )
    config = _Config(doc)
    document, rows, action_counts = _instances(doc)
    records = [_record(row, config) for row in rows]
    _attach_s3_satellites(rows, records, config)
    findings = []
    for record in records:
        record["findings"] = _findings(record)
        for issue in record["findings"]:
            findings.append({"address": record["address"], "type": record["type"], "issue": issue})

    by_type = Counter(r["type"] or "unknown" for r in records)
    regions = Counter(r["region"] for r in records if r["region"])
    encrypted = [r for r in records if r["encryption"] is not None]
    tls = [r for r in records if r["tls"] is not None]
    retention = [r for r in records if r["log_retention_days"] is not None]
    effective_at = parse_datetime(doc.get("timestamp"))
    summary = {
        "document": document,
        "format_version": text(version, 20),
        "terraform_version": text(doc.get("terraform_version"), 40),
        "resources_total": len(records),
        "by_type": dict(by_type.most_common(MAX_LIST)),
        "regions": dict(regions.most_common(MAX_LIST)),
        "actions": dict(action_counts.most_common()),
        "errored": doc.get("errored") is True,
        "storage_total": len(encrypted),
        "unencrypted": [r["address"] for r in encrypted if not r["encryption"]["at_rest"]][:MAX_LIST],
        "encrypted_without_customer_key": [
            r["address"] for r in encrypted if r["encryption"]["at_rest"] and not r["encryption"]["kms_key"]
        ][:MAX_LIST],
        "public": [r["address"] for r in records if r["public"]][:MAX_LIST],
        "tls_endpoints": [
            {"address": r["address"], "protocol": r["tls"]["protocol"], "min_tls_version": r["tls"]["min_tls_version"]}
            for r in tls
        ][:MAX_LIST],
        "log_retention": [{"address": r["address"], "days": r["log_retention_days"]} for r in retention][:MAX_LIST],
        "iam_wildcard_statements": sum(len(r["iam_wildcards"]) for r in records),
        "findings_total": len(findings),
        "findings": findings[:MAX_LIST],
        "generated_at": iso(effective_at),
    }
    noun = "plan" if document == "plan" else "state"
    title = f"Terraform {noun}: {plural(len(records), 'resource')}, {plural(len(findings), 'finding')}"
    reason = (
        f"{plural(len(records), 'resource')} in {plural(len(regions), 'region')}, "
        f"{plural(len(findings), 'safeguard finding')}; the rules decide"
    )
    evidence = EvidenceFacts(
        kind="infrastructure",
        title=title,
        verdict="info",
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=records,
    )
    return ParseResult(format="terraform", evidence=[evidence])
