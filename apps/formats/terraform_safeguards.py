"""Terraform safeguards: what one resource says about encryption, exposure, TLS, IAM and logs.

`terraform.py` reads the plan or state and calls `_record` for each managed resource
instance, `_attach_s3_satellites` for settings that live in their own resources, and
`_findings` for the issues; the record fields and findings are described in its docstring.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from .base import MAX_LIST, number, text

if TYPE_CHECKING:  # only for annotations: terraform.py imports this module
    from .terraform import _Config

MAX_POLICY_BYTES = 256 * 1024

_INDEX = re.compile(r"\[[^\]]*\]")
_TLS_IN_NAME = re.compile(r"(?:TLS13|TLS|FS)-(1)-(\d)")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_CIDRS = ("0.0.0.0/0", "::/0")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess",)
POLICY_ATTRIBUTES = {
    "aws_iam_policy": "policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_user_policy": "policy",
    "aws_iam_group_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sqs_queue_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_kms_key": "policy",
    "aws_ecr_repository_policy": "policy",
}
RETENTION_ATTRIBUTES = {
    "aws_cloudwatch_log_group": "retention_in_days",
    "azurerm_log_analytics_workspace": "retention_in_days",
    "google_logging_project_bucket_config": "retention_days",
    "aws_cloudtrail_event_data_store": "retention_period",
}
# (encrypted flag attribute, key attribute) for types that say it in one attribute
SIMPLE_ENCRYPTION = {
    "aws_db_instance": ("storage_encrypted", "kms_key_id"),
    "aws_rds_cluster": ("storage_encrypted", "kms_key_id"),
    "aws_docdb_cluster": ("storage_encrypted", "kms_key_id"),
    "aws_neptune_cluster": ("storage_encrypted", "kms_key_arn"),
    "aws_ebs_volume": ("encrypted", "kms_key_id"),
    "aws_efs_file_system": ("encrypted", "kms_key_id"),
    "aws_redshift_cluster": ("encrypted", "kms_key_id"),
    "aws_elasticache_replication_group": ("at_rest_encryption_enabled", "kms_key_id"),
}
# types that are always encrypted at rest by the platform; the key attribute names a customer key
ALWAYS_ENCRYPTED = {
    "aws_cloudwatch_log_group": "kms_key_id",
    "aws_dynamodb_table": "",
    "google_storage_bucket": "",
    "google_sql_database_instance": "encryption_key_name",
    "google_compute_disk": "",
    "google_bigquery_dataset": "",
    "azurerm_storage_account": "",
    "azurerm_managed_disk": "disk_encryption_set_id",
    "azurerm_mssql_database": "",
    "azurerm_postgresql_flexible_server": "",
}
PUBLIC_DB_TYPES = (
    "aws_db_instance",
    "aws_rds_cluster_instance",
    "aws_redshift_cluster",
    "aws_dms_replication_instance",
)


# --- small readers ------------------------------------------------------------------


def _first(value) -> dict:
    """Terraform renders nested blocks as lists of objects; the first one, or {}."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _blocks(value) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _bool(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _strip_index(address: str) -> str:
    return _INDEX.sub("", address)


def _provider_short(provider_name: str) -> str:
    return provider_name.rsplit("/", 1)[-1] if provider_name else ""


def tls_version_of(policy: str) -> str:
    """The minimum TLS version a named TLS policy allows: '1.0'..'1.3', '' if unknown.

    Covers AWS ELB policies (ELBSecurityPolicy-TLS13-1-2-2021-06, -TLS-1-2-2017-01,
    -FS-1-2-..., -2016-08), CloudFront (TLSv1.2_2021), API Gateway (TLS_1_2),
    OpenSearch (Policy-Min-TLS-1-2-2019-07) and Azure/GCP spellings (TLS1_2, TLS_1_2, 1.2).
    """
    if not isinstance(policy, str) or not policy:
        return ""
    raw = policy.strip()
    match = _TLS_IN_NAME.search(raw)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    match = re.search(r"TLS[_ v]?(?:1[._])(\d)", raw, re.IGNORECASE)
    if match:
        return f"1.{match.group(1)}"
    if re.fullmatch(r"TLSv1(?:_\d{4})?", raw):
        return "1.0"
    if re.fullmatch(r"1\.[0-3]", raw):
        return raw
    if raw in ("ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-2015-05", "ELBSecurityPolicy-FS-2018-06"):
        return "1.0"
    if raw.upper().startswith("SSL"):
        return "0"  # SSLv3: older than any TLS
    return ""


def _tls_below(version: str, floor: str = "1.2") -> bool:
    return bool(version) and version < floor


# --- IAM ------------------------------------------------------------------------------


def iam_wildcards(document) -> list[dict]:
    """Allow statements of a policy document whose Action is '*' or 'service:*', or whose Resource is '*'."""
    if isinstance(document, str):
        if len(document) > MAX_POLICY_BYTES:
            return []
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            return []
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement")
    out = []
    for statement in _blocks(statements):
        effect = statement.get("Effect")
        if effect != "Allow":
            continue
        actions = [a for a in _strings(statement.get("Action")) if a == "*" or a.endswith(":*")]
        if "NotAction" in statement:
            actions.append("NotAction")  # allow everything except a list: as broad as a wildcard
        resource_wildcard = "*" in _strings(statement.get("Resource"))
        if actions or resource_wildcard:
            out.append(
                {
                    "sid": text(statement.get("Sid"), 100),
                    "effect": "Allow",
                    "actions": [text(a, 100) for a in actions[:20]],
                    "resource_wildcard": resource_wildcard,
                }
            )
        if len(out) >= MAX_LIST:
            break
    return out


def _wildcard_issue(item: dict) -> str:
    actions = ", ".join(item["actions"]) or "specific actions"
    where = "on Resource '*'" if item["resource_wildcard"] else "on named resources"
    return f"IAM statement allows {actions} {where}"


# --- safeguards -----------------------------------------------------------------------


def _region(row: dict, config: _Config, provider: str) -> str:
    values = row["values"]
    for key in ("region", "location"):
        if isinstance(values.get(key), str) and values[key]:
            return values[key]
    zone = values.get("availability_zone")
    if isinstance(zone, str) and len(zone) > 1 and zone[-1].isalpha() and zone[-2].isdigit():
        return zone[:-1]
    arn = values.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return config.region(row["module"], row["address"], provider)


def _value_or_ref(row: dict, config: _Config, *path: str) -> str:
    node = row["values"]
    for step in path:
        node = _first(node) if isinstance(node, list) else node
        node = node.get(step) if isinstance(node, dict) else None
    if isinstance(node, str) and node:
        return node
    return config.reference(row["module"], row["address"], *path)


def _sse_from_rules(rules) -> dict | None:
    for rule in _blocks(rules):
        default = _first(rule.get("apply_server_side_encryption_by_default"))
        if default:
            return default
    return None


def _encryption(row: dict, config: _Config) -> dict | None:
    rtype, values = row["type"], row["values"]
    if rtype in SIMPLE_ENCRYPTION:
        flag, key_attr = SIMPLE_ENCRYPTION[rtype]
        enabled = _bool(values.get(flag))
        return {
            "at_rest": bool(enabled),
            "algorithm": "",
            "kms_key": _value_or_ref(row, config, key_attr),
            "detail": f"{flag} = {str(enabled).lower() if enabled is not None else 'not set'}",
        }
    if rtype == "aws_instance":
        devices = _blocks(values.get("root_block_device")) + _blocks(values.get("ebs_block_device"))
        unencrypted = [d for d in devices if d.get("encrypted") is not True]
        return {
            "at_rest": bool(devices) and not unencrypted,
            "algorithm": "",
            "kms_key": next((d["kms_key_id"] for d in devices if isinstance(d.get("kms_key_id"), str)), ""),
            "detail": f"{len(devices) - len(unencrypted)} of {len(devices)} block devices encrypted",
        }
    if rtype == "aws_sqs_queue":
        key = _value_or_ref(row, config, "kms_master_key_id")
        managed = values.get("sqs_managed_sse_enabled") is True
        return {"at_rest": bool(key) or managed, "algorithm": "", "kms_key": key, "detail": ""}
    if rtype in ("aws_sns_topic", "aws_kinesis_stream"):
        key = _value_or_ref(row, config, "kms_master_key_id" if rtype == "aws_sns_topic" else "kms_key_id")
        return {"at_rest": bool(key), "algorithm": "", "kms_key": key, "detail": ""}
    if rtype in ("aws_opensearch_domain", "aws_elasticsearch_domain"):
        block = _first(values.get("encrypt_at_rest"))
        return {
            "at_rest": block.get("enabled") is True,
            "algorithm": "",
            "kms_key": text(block.get("kms_key_id"), 500),
            "detail": "",
        }
    if rtype == "aws_s3_bucket":
        inline = _sse_from_rules(_first(values.get("server_side_encryption_configuration")).get("rule"))
        if inline:
            return {
                "at_rest": True,
                "algorithm": text(inline.get("sse_algorithm"), 50),
                "kms_key": text(inline.get("kms_master_key_id"), 500),
                "detail": "inline server_side_encryption_configuration",
            }
        return {"at_rest": False, "algorithm": "", "kms_key": "", "detail": "no server-side encryption configuration"}
    if rtype in ALWAYS_ENCRYPTED:
        key_attr = ALWAYS_ENCRYPTED[rtype]
        key = _value_or_ref(row, config, key_attr) if key_attr else ""
        if rtype == "aws_dynamodb_table":
            sse = _first(values.get("server_side_encryption"))
            key = text(sse.get("kms_key_arn"), 500) if sse.get("enabled") is True else ""
        elif rtype == "google_storage_bucket":
            key = text(_first(values.get("encryption")).get("default_kms_key_name"), 500)
        elif rtype == "google_compute_disk":
            key = text(_first(values.get("disk_encryption_key")).get("kms_key_self_link"), 500)
        elif rtype == "google_bigquery_dataset":
            key = text(_first(values.get("default_encryption_configuration")).get("kms_key_name"), 500)
        elif rtype == "azurerm_storage_account":
            key = text(_first(values.get("customer_managed_key")).get("key_vault_key_id"), 500)
        return {"at_rest": True, "algorithm": "", "kms_key": key, "detail": "encrypted by the platform"}
    return None


def _tls(row: dict) -> dict | None:
    rtype, values = row["type"], row["values"]
    if rtype in ("aws_lb_listener", "aws_alb_listener"):
        protocol = text(values.get("protocol"), 20).upper()
        policy = text(values.get("ssl_policy"), 200)
        redirects = any(
            _first(action.get("redirect")).get("protocol") == "HTTPS"
            for action in _blocks(values.get("default_action"))
            if action.get("type") == "redirect"
        )
        plaintext = protocol in ("HTTP", "TCP", "UDP", "TCP_UDP") and not redirects
        return {
            "protocol": protocol,
            "ssl_policy": policy,
            "min_tls_version": tls_version_of(policy) if protocol in ("HTTPS", "TLS") else "",
            "plaintext": plaintext,
            "redirects_to_https": redirects,
        }
    if rtype == "aws_cloudfront_distribution":
        viewer = _first(values.get("viewer_certificate"))
        policy = text(viewer.get("minimum_protocol_version"), 50)
        behaviours = _blocks(values.get("default_cache_behavior")) + _blocks(values.get("ordered_cache_behavior"))
        plaintext = any(b.get("viewer_protocol_policy") == "allow-all" for b in behaviours)
        version = tls_version_of(policy) or ("1.0" if viewer.get("cloudfront_default_certificate") is True else "")
        return {"protocol": "HTTPS", "ssl_policy": policy, "min_tls_version": version, "plaintext": plaintext}
    if rtype == "aws_api_gateway_domain_name":
        policy = text(values.get("security_policy"), 50)
        return {
            "protocol": "HTTPS",
            "ssl_policy": policy,
            "min_tls_version": tls_version_of(policy),
            "plaintext": False,
        }
    if rtype in ("aws_opensearch_domain", "aws_elasticsearch_domain"):
        options = _first(values.get("domain_endpoint_options"))
        policy = text(options.get("tls_security_policy"), 100)
        return {
            "protocol": "HTTPS",
            "ssl_policy": policy,
            "min_tls_version": tls_version_of(policy),
            "plaintext": options.get("enforce_https") is False,
        }
    if rtype == "azurerm_storage_account":
        policy = text(values.get("min_tls_version"), 20)
        https_only = values.get("https_traffic_only_enabled", values.get("enable_https_traffic_only"))
        return {
            "protocol": "HTTPS",
            "ssl_policy": policy,
            "min_tls_version": tls_version_of(policy),
            "plaintext": https_only is False,
        }
    if rtype in ("azurerm_mssql_server", "azurerm_postgresql_server", "azurerm_mysql_server", "azurerm_redis_cache"):
        policy = text(values.get("minimum_tls_version") or values.get("ssl_minimal_tls_version_enforced"), 30) or text(
            values.get("minimum_tls_version"), 30
        )
        return {"protocol": "TLS", "ssl_policy": policy, "min_tls_version": tls_version_of(policy), "plaintext": False}
    if rtype == "google_compute_ssl_policy":
        policy = text(values.get("min_tls_version"), 20)
        return {
            "protocol": "HTTPS",
            "ssl_policy": policy,
            "min_tls_version": tls_version_of(policy),
            "plaintext": False,
        }
    if rtype == "google_sql_database_instance":
        ip = _first(_first(values.get("settings")).get("ip_configuration"))
        mode = text(ip.get("ssl_mode"), 60)
        plaintext = mode == "ALLOW_UNENCRYPTED_AND_ENCRYPTED" or (not mode and ip.get("require_ssl") is False)
        return {"protocol": "TLS", "ssl_policy": mode, "min_tls_version": "", "plaintext": plaintext}
    if rtype == "aws_elasticache_replication_group":
        enabled = values.get("transit_encryption_enabled")
        return {"protocol": "TLS", "ssl_policy": "", "min_tls_version": "", "plaintext": enabled is not True}
    return None


def _public_database(values: dict) -> tuple[bool | None, list[str]]:
    flag = _bool(values.get("publicly_accessible"))
    return flag, ["publicly_accessible = true"] if flag else []


def _public_s3_bucket(values: dict) -> tuple[bool | None, list[str]]:
    acl = values.get("acl")
    reasons = [f"acl {acl}"] if acl in PUBLIC_ACLS else []
    return bool(reasons), reasons


def _public_security_group(values: dict) -> tuple[bool | None, list[str]]:
    reasons = []
    for rule in _blocks(values.get("ingress")):
        cidrs = _strings(rule.get("cidr_blocks")) + _strings(rule.get("ipv6_cidr_blocks"))
        open_cidrs = [c for c in cidrs if c in PUBLIC_CIDRS]
        if open_cidrs:
            reasons.append(f"ingress {_ports(rule.get('from_port'), rule.get('to_port'))} from {open_cidrs[0]}")
    return bool(reasons), reasons


def _public_security_group_rule(values: dict) -> tuple[bool | None, list[str]]:
    cidrs = _strings(values.get("cidr_blocks")) + _strings(values.get("ipv6_cidr_blocks"))
    reasons = []
    if values.get("type") == "ingress" and any(c in PUBLIC_CIDRS for c in cidrs):
        reasons.append(f"ingress {_ports(values.get('from_port'), values.get('to_port'))} from the internet")
    return bool(reasons), reasons


def _public_vpc_ingress_rule(values: dict) -> tuple[bool | None, list[str]]:
    reasons = [
        f"ingress {_ports(values.get('from_port'), values.get('to_port'))} from {values[key]}"
        for key in ("cidr_ipv4", "cidr_ipv6")
        if values.get(key) in PUBLIC_CIDRS
    ]
    return bool(reasons), reasons


def _public_instance(values: dict) -> tuple[bool | None, list[str]]:
    flag = _bool(values.get("associate_public_ip_address"))
    return flag, ["associate_public_ip_address = true"] if flag else []


def _public_cloud_sql(values: dict) -> tuple[bool | None, list[str]]:
    ip = _first(_first(values.get("settings")).get("ip_configuration"))
    reasons = [
        f"authorized network {network['value']}"
        for network in _blocks(ip.get("authorized_networks"))
        if network.get("value") in PUBLIC_CIDRS and ip.get("ipv4_enabled") is not False
    ]
    return bool(reasons), reasons


def _public_gcs_bucket(values: dict) -> tuple[bool | None, list[str]]:
    return (False if values.get("public_access_prevention") == "enforced" else None), []


def _public_gcs_iam(values: dict) -> tuple[bool | None, list[str]]:
    members = _strings(values.get("members")) + _strings(values.get("member"))
    public = [m for m in members if m in PUBLIC_MEMBERS]
    reasons = [f"{public[0]} granted {text(values.get('role'), 100)}"] if public else []
    return bool(public), reasons


def _public_azure_storage(values: dict) -> tuple[bool | None, list[str]]:
    nested = values.get("allow_nested_items_to_be_public", values.get("allow_blob_public_access"))
    return (nested is True), ["allow_nested_items_to_be_public = true"] if nested is True else []


# How each resource type says it is reachable from the internet: (public?, reasons). None: it cannot say.
_PUBLIC_CHECKS = {
    **dict.fromkeys(PUBLIC_DB_TYPES, _public_database),
    "aws_s3_bucket": _public_s3_bucket,
    "aws_security_group": _public_security_group,
    "aws_security_group_rule": _public_security_group_rule,
    "aws_vpc_security_group_ingress_rule": _public_vpc_ingress_rule,
    "aws_instance": _public_instance,
    "google_sql_database_instance": _public_cloud_sql,
    "google_storage_bucket": _public_gcs_bucket,
    "google_storage_bucket_iam_member": _public_gcs_iam,
    "google_storage_bucket_iam_binding": _public_gcs_iam,
    "azurerm_storage_account": _public_azure_storage,
}


def _public(row: dict) -> tuple[bool | None, list[str]]:
    check = _PUBLIC_CHECKS.get(row["type"])
    return check(row["values"]) if check else (None, [])


def _ports(low, high) -> str:
    low_n, high_n = number(low), number(high)
    if low_n is None:
        return "all ports"
    if low_n == 0 and high_n in (0, 65535):
        return "all ports"
    low_i = int(low_n)
    return f"port {low_i}" if high_n in (None, low_n) else f"ports {low_i}-{int(high_n)}"


def _bucket_keys(row: dict, config: _Config) -> list[str]:
    """Keys of the bucket a satellite resource belongs to: its referenced bucket address, then its name."""
    keys = []
    reference = config.reference(row["module"], row["address"], "bucket")
    if reference.startswith(("aws_s3_bucket.", "google_storage_bucket.")):
        local = _strip_index(".".join(reference.split(".")[:2]))
        keys.append("addr:" + (f"{_strip_index(row['module'])}.{local}" if row["module"] else local))
    bucket = row["values"].get("bucket")
    if isinstance(bucket, str) and bucket:
        keys.append("name:" + bucket.removeprefix("b/"))
    return keys


def _record(row: dict, config: _Config) -> dict:
    provider = _provider_short(text(row.get("provider_name"), 300))
    rtype = text(row.get("type"), 200)
    row["type"] = rtype
    retention = None
    if rtype in RETENTION_ATTRIBUTES:
        days = number(row["values"].get(RETENTION_ATTRIBUTES[rtype]))
        retention = int(days) if days is not None else 0
    wildcards: list[dict] = []
    attribute = POLICY_ATTRIBUTES.get(rtype)
    if attribute:
        wildcards = iam_wildcards(row["values"].get(attribute))
    if rtype == "aws_iam_role":
        for inline in _blocks(row["values"].get("inline_policy")):
            wildcards += iam_wildcards(inline.get("policy"))
    if rtype.endswith("_policy_attachment") and row["values"].get("policy_arn") in ADMIN_POLICIES:
        wildcards.append({"sid": "AdministratorAccess", "effect": "Allow", "actions": ["*"], "resource_wildcard": True})
    public, reasons = _public(row)
    return {
        "address": row["address"],
        "type": rtype,
        "name": text(row.get("name"), 200),
        "module": row["module"],
        "provider": provider,
        "region": text(_region(row, config, provider), 100).lower().replace(" ", ""),
        "action": row.get("action", ""),
        "encryption": _encryption(row, config),
        "public": public,
        "public_reasons": reasons,
        "public_access_block": None,
        "tls": _tls(row),
        "log_retention_days": retention,
        "iam_wildcards": wildcards[:MAX_LIST],
        "findings": [],
    }


def _buckets_by_key(rows: list[dict], records: list[dict]) -> dict[str, dict]:
    """Bucket records by "addr:<address>" and "name:<bucket name>"."""
    buckets: dict[str, dict] = {}
    for row, record in zip(rows, records, strict=True):
        if record["type"] in ("aws_s3_bucket", "google_storage_bucket"):
            buckets.setdefault("addr:" + _strip_index(row["address"]), record)
            name = row["values"].get("bucket" if record["type"] == "aws_s3_bucket" else "name")
            if isinstance(name, str) and name:
                buckets.setdefault("name:" + name, record)
    return buckets


def _s3_encryption(row: dict, record: dict, config: _Config) -> dict:
    default = _sse_from_rules(row["values"].get("rule")) or {}
    return {
        "at_rest": True,
        "algorithm": text(default.get("sse_algorithm"), 50),
        "kms_key": text(default.get("kms_master_key_id"), 500)
        or config.reference(
            row["module"],
            row["address"],
            "rule",
            "apply_server_side_encryption_by_default",
            "kms_master_key_id",
        ),
        "detail": record["address"],
    }


def _s3_policy_allows_anyone(document) -> bool:
    """Whether a bucket policy (JSON text) has an unconditioned Allow for Principal '*'."""
    try:
        parsed = json.loads(document) if isinstance(document, str) and len(document) < MAX_POLICY_BYTES else {}
    except (ValueError, RecursionError):
        parsed = {}
    for statement in _blocks(parsed.get("Statement") if isinstance(parsed, dict) else None):
        principal = statement.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and "*" in _strings(principal.get("AWS")))
        if statement.get("Effect") == "Allow" and anyone and not statement.get("Condition"):
            return True
    return False


def _fold_satellite(bucket: dict, row: dict, record: dict, config: _Config) -> None:
    """Fold one encryption/public-access/ACL/policy/IAM resource into its bucket's record."""
    rtype, values = record["type"], row["values"]
    if rtype == "aws_s3_bucket_server_side_encryption_configuration":
        bucket["encryption"] = _s3_encryption(row, record, config)
    elif rtype == "aws_s3_bucket_public_access_block":
        flags = {
            key: values.get(key) is True
            for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        }
        bucket["public_access_block"] = {**flags, "all": all(flags.values())}
    elif rtype.startswith("google_storage_bucket_iam_") and record["public"]:
        bucket["public_reasons"].append(f"{record['public_reasons'][0]} ({record['address']})")
    elif rtype == "aws_s3_bucket_acl" and values.get("acl") in PUBLIC_ACLS:
        bucket["public_reasons"].append(f"acl {values['acl']} ({record['address']})")
    elif rtype == "aws_s3_bucket_policy" and _s3_policy_allows_anyone(values.get("policy")):
        bucket["public_reasons"].append(f"bucket policy allows Principal '*' ({record['address']})")


def _settle_bucket_publicity(record: dict) -> None:
    """A bucket's final `public`, after a public access block has cancelled the reasons it blocks."""
    if record["type"] == "google_storage_bucket" and record["public_reasons"]:
        record["public"] = True
    if record["type"] != "aws_s3_bucket":
        return
    block = record["public_access_block"]
    if block and block["ignore_public_acls"]:
        record["public_reasons"] = [r for r in record["public_reasons"] if not r.startswith("acl ")]
    if block and block["restrict_public_buckets"]:
        record["public_reasons"] = [r for r in record["public_reasons"] if "bucket policy" not in r]
    record["public"] = bool(record["public_reasons"])


def _attach_s3_satellites(rows: list[dict], records: list[dict], config: _Config) -> None:
    """Fold the separate S3 encryption/public-access/ACL/policy resources into their buckets."""
    buckets = _buckets_by_key(rows, records)
    for row, record in zip(rows, records, strict=True):
        if not record["type"].startswith(("aws_s3_bucket_", "google_storage_bucket_iam_")):
            continue
        bucket = next((buckets[key] for key in _bucket_keys(row, config) if key in buckets), None)
        if bucket is not None:
            _fold_satellite(bucket, row, record, config)
    for record in records:
        _settle_bucket_publicity(record)


def _findings(record: dict) -> list[str]:
    issues = []
    encryption = record["encryption"]
    if encryption is not None and not encryption["at_rest"]:
        issues.append("not encrypted at rest")
    if record["public"]:
        issues.append("public: " + "; ".join(record["public_reasons"][:3]))
    if record["type"] == "aws_s3_bucket" and record["public_access_block"] is None:
        issues.append("no public access block")
    tls = record["tls"]
    if tls is not None:
        if tls.get("plaintext") and tls["protocol"] == "HTTP":
            issues.append("plain HTTP listener without a redirect to HTTPS")
        elif tls.get("plaintext"):
            issues.append("accepts unencrypted connections")
        if _tls_below(tls["min_tls_version"]):
            issues.append(f"TLS policy {tls['ssl_policy']} allows TLS {tls['min_tls_version']}")
    for item in record["iam_wildcards"]:
        issues.append(_wildcard_issue(item))
    return issues
