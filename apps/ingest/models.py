"""Sources that push evidence, and the Receipt of every accepted delivery or upload.

A Receipt is committed, with its raw body stored durably (in the blob store, or for a small
body as a PendingBody in the same statement), before the sender gets its 202; parsing it into
evidence happens later in Celery. The states and the
moves between them are data here; `apps.ingest.services` makes the moves.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import HashIndex
from django.db import models
from django.urls import reverse

from apps.common.states import StateMachine
from apps.ledger.services import Actor


class SourceKind(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GENERIC_CI = "generic-ci", "Generic CI"
    OPENLINEAGE = "openlineage", "OpenLineage"
    MLFLOW = "mlflow", "MLflow"
    OCI = "oci", "OCI registry"


class ReceiptState(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    PARSED = "parsed", "Parsed"
    FAILED = "failed", "Failed"


class Source(models.Model):
    """Something that pushes evidence (a CI system, a registry), with its credential."""

    Kind = SourceKind

    # Kinds that send signed webhooks and therefore get a signing secret next to the token.
    WEBHOOK_KINDS = frozenset({Kind.GITHUB, Kind.GITLAB, Kind.MLFLOW})
    # Kinds the portal also pulls from (apps.connectors), on a schedule and on demand.
    PULL_KINDS = frozenset({Kind.MLFLOW, Kind.OCI})

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=120, unique=True)
    system = models.ForeignKey(
        "inventory.System",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sources",
        help_text="Evidence from this source belongs to this system unless an upload names another.",
    )
    enabled = models.BooleanField(default=True)
    # sha256 hex of the bearer token; the token itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16, help_text="First characters of the token, for recognising it.")
    # Fernet ciphertext of the webhook signing secret (it must be read back to check signatures).
    secret_encrypted = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    # ---- pull connectors (kinds in PULL_KINDS); apps.connectors reads these.
    endpoint_url = models.URLField(
        max_length=500, blank=True, help_text="Where the portal pulls from: the MLflow tracking server or registry."
    )
    # Fernet ciphertext of JSON {"username", "password"} or {"token"} for the endpoint (read back to send).
    credentials_encrypted = models.TextField(blank=True)
    sync_options = models.JSONField(
        default=dict, blank=True, help_text='Connector options, e.g. {"repositories": ["team/app"]} for a registry.'
    )
    sync_interval = models.PositiveIntegerField(default=900, help_text="Seconds between scheduled syncs.")
    cursor = models.JSONField(default=dict, blank=True, help_text="Where the last good sync stopped (per connector).")
    last_sync_at = models.DateTimeField(null=True, blank=True, help_text="When the last successful sync finished.")
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    backoff_until = models.DateTimeField(null=True, blank=True, help_text="No scheduled sync before this time.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=SourceKind.values),
                name="source_kind_valid",
                violation_error_message="Unknown source kind.",
            ),
            models.CheckConstraint(
                condition=models.Q(sync_interval__gte=60),
                name="source_sync_interval_min",
                violation_error_message="Sync at most once a minute.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("ingest:source_detail", kwargs={"pk": self.pk})

    @property
    def is_webhook(self) -> bool:
        return self.kind in self.WEBHOOK_KINDS

    @property
    def is_pull(self) -> bool:
        return self.kind in self.PULL_KINDS

    def ledger_actor(self) -> Actor:
        return Actor("source", str(self.pk), self.name)


class Receipt(StateMachine, models.Model):
    """One accepted delivery or upload: where it came from, its raw body's sha256, its parse state."""

    State = ReceiptState

    class Channel(models.TextChoices):
        GITHUB = "github", "GitHub webhook"
        GITLAB = "gitlab", "GitLab webhook"
        UPLOAD = "upload", "Upload"
        # JSON of these systems, pushed to us or pulled by a connector; parsed by parse_webhook(channel, event).
        MLFLOW = "mlflow", "MLflow"
        OCI = "oci", "OCI registry"
        OPENLINEAGE = "openlineage", "OpenLineage event"
        # A file a connector fetched (an SBOM attached to an image...), parsed like an upload.
        PULL = "pull", "Pulled file"

    # Channels whose bodies are files about a named subject (format given or detected).
    FILE_CHANNELS = frozenset({Channel.UPLOAD, Channel.PULL})

    # state -> states it may move to (services check moves against this table).
    TRANSITIONS: dict[str, frozenset[str]] = {
        ReceiptState.QUEUED: frozenset({ReceiptState.PARSING}),
        # back to QUEUED: the sweep found it stuck after a worker died
        ReceiptState.PARSING: frozenset({ReceiptState.PARSED, ReceiptState.FAILED, ReceiptState.QUEUED}),
        ReceiptState.PARSED: frozenset({ReceiptState.QUEUED}),  # re-parse
        ReceiptState.FAILED: frozenset({ReceiptState.QUEUED}),  # re-parse after a fix
    }

    # Indexed by receipt_source_delivery below, which serves lookups by source alone too.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="receipts", db_index=False)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    event = models.CharField(
        max_length=100, blank=True, help_text="Webhook event name (X-GitHub-Event, X-Gitlab-Event)."
    )
    delivery_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="X-GitHub-Delivery, X-Gitlab-Event-UUID or Idempotency-Key; empty: never deduplicated.",
    )
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Headers worth keeping; never credentials.")
    filename = models.CharField(max_length=255, blank=True)
    # What an upload said about itself (webhooks leave these empty).
    subject = models.TextField(blank=True)
    format_hint = models.CharField(max_length=40, blank=True)
    system = models.ForeignKey(
        "inventory.System",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    effective_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=ReceiptState.choices, default=ReceiptState.QUEUED)
    state_since = models.DateTimeField(help_text="When the receipt entered its current state (the sweep reads it).")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker claimed it.")
    parsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "delivery_key"],
                condition=~models.Q(delivery_key=""),
                name="receipt_unique_delivery_per_source",
                violation_error_message="This source already delivered this delivery id or idempotency key.",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ReceiptState.values),
                name="receipt_state_valid",
                violation_error_message="Unknown receipt state.",
            ),
        ]
        indexes = [
            # Every webhook delivery looks up (source, delivery id) before it is accepted. With only an
            # index on the source, a source newer than the table's statistics got a plan that read all
            # of its receipts per delivery; this one answers that lookup, and lookups by source, in one
            # probe whatever the statistics say.
            models.Index(fields=["source", "delivery_key"], name="receipt_source_delivery"),
            models.Index(fields=["state", "state_since"], name="receipt_state_since"),
            models.Index(fields=["-received_at"], name="receipt_received"),
            # The gate asks whether an upload about a subject waits to be parsed (apps.policy.selectors.gate).
            # A hash index: a subject may be longer than a B-tree entry can hold.
            HashIndex(
                fields=["subject"],
                name="receipt_unparsed_subject",
                condition=models.Q(state__in=[ReceiptState.QUEUED, ReceiptState.PARSING]) & ~models.Q(subject=""),
            ),
        ]

    def __str__(self) -> str:
        return f"receipt {self.pk} ({self.get_channel_display()}, {self.state})"

    def get_absolute_url(self) -> str:
        return reverse("ingest:receipt_detail", kwargs={"pk": self.pk})

    state_field = "state"

    def transition_refusal(self, state: str) -> str:
        if state == ReceiptState.QUEUED:
            return f"receipt {self.pk} is {self.state}; only failed or parsed receipts re-parse"
        return super().transition_refusal(state)

    @property
    def public_state(self) -> str:
        """The state as the contract names it: a receipt being parsed is still "queued" to the sender."""
        return self.State.QUEUED.value if self.state == self.State.PARSING else self.state

    @property
    def generation(self) -> int:
        """Evidence written by the latest parse carries this number (see Evidence.generation)."""
        return self.attempts


class PendingBody(models.Model):
    """A raw body committed with its receipt and not yet in the blob store.

    A body up to PORTAL_INLINE_BODY_MAX_BYTES rides the accept's one statement: the commit's WAL
    flush, shared with every writer committing at that moment, makes it durable, instead of a file
    write with two fsyncs of its own before each 202. The receipt's parse, or the receipt sweep,
    writes the bytes to the blob store (durably) and only then deletes the row; until then every
    reader of the blob store (apps.ingest.blobs) falls back to it. Content-addressed like the
    store: one row per sha256, whatever number of receipts name it.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    body = models.BinaryField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"pending body sha256:{self.sha256}"


class TrustedKey(models.Model):
    """A public key or Sigstore identity whose signatures on provenance count, for one system or source.

    Written only by `apps.ingest.trust` (each add and revoke is a ledger entry); a revoked key
    stays as a row, so what was trusted when is never lost."""

    class Kind(models.TextChoices):
        PUBLIC_KEY = "public-key", "Public key (DSSE, in-toto link)"
        SIGSTORE_IDENTITY = "sigstore-identity", "Sigstore identity (issuer + subject)"

    class Algorithm(models.TextChoices):
        ED25519 = "ed25519", "Ed25519"
        ECDSA_P256 = "ecdsa-p256", "ECDSA P-256"
        RSA = "rsa", "RSA"
        NONE = "", "none (Sigstore identity)"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    system = models.ForeignKey(
        "inventory.System", null=True, blank=True, on_delete=models.PROTECT, related_name="trusted_keys"
    )
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.PROTECT, related_name="trusted_keys")
    algorithm = models.CharField(max_length=20, choices=Algorithm.choices, blank=True)
    public_key_pem = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="sha256 hex of the DER public key.")
    keyid = models.CharField(max_length=200, blank=True, help_text="The keyid signers write in envelopes, if any.")
    issuer = models.CharField(max_length=500, blank=True, help_text="OIDC issuer, e.g. GitHub Actions'.")
    identity = models.CharField(
        max_length=500, blank=True, help_text="Certificate subject (SAN); ending in @ matches every ref."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["system", "revoked_at"]), models.Index(fields=["source", "revoked_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["public-key", "sigstore-identity"]),
                name="trustedkey_kind_valid",
                violation_error_message="Unknown trusted key kind.",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(system__isnull=False, source__isnull=True)
                    | models.Q(system__isnull=True, source__isnull=False)
                ),
                name="trustedkey_one_scope",
                violation_error_message="A trusted key is for exactly one system or one source.",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="public-key", algorithm__in=["ed25519", "ecdsa-p256", "rsa"])
                    & ~models.Q(public_key_pem="")
                    & ~models.Q(fingerprint="")
                )
                | (models.Q(kind="sigstore-identity") & ~models.Q(issuer="") & ~models.Q(identity="")),
                name="trustedkey_material",
                violation_error_message="A public key needs its PEM and algorithm; a Sigstore identity its issuer "
                "and subject.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        return f"system {self.system.slug}" if self.system_id else f"source {self.source.name}"


class SourceAllowance(models.Model):
    """An admin's word that an unbound source may speak for a system: its evidence then counts there.

    A source bound to a system speaks for that system only; a source bound to none speaks for no
    system's policy until an admin allows it here (apps.ingest.binding; the policy facts read it).
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="allowances")
    system = models.ForeignKey("inventory.System", on_delete=models.CASCADE, related_name="source_allowances")
    allowed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    allowed_at = models.DateTimeField()
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["source", "system"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "system"],
                name="source_allowance_unique",
                violation_error_message="This source is already allowed for this system.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} may speak for {self.system}"
