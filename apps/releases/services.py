"""Writes of release sign-off: classify (CI or owner), approve, reject; the gate's check.

Each service locks the sign-off row, checks the move (TRANSITIONS) and the actor, writes,
records the ledger entry in the same transaction and notifies after commit.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.notifications import notification_send
from apps.accounts.roles import Role
from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.digest import ensure_digest
from apps.approvals.reauth import ensure_recent_reauth
from apps.approvals.refusals import decision_refusals_recorded
from apps.approvals.voiding import decisions_void
from apps.evidence.models import Artifact, Evidence, EvidenceSubject, LineageEdge
from apps.ledger.services import ledger_record
from apps.releases import chain as chain_mod
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.policy import chain_covers, chain_raises, release_policy

Status = ReleaseSignoff.Status
SIGNOFF_KINDS = frozenset({"release", "deployment", "model-version", "image", "package"})
# Where CI metadata names a change class: a summary field, or "change-class: NAME" in free text.
CLASS_FIELDS = ("change_class", "changeClass")
CLASS_TEXT = re.compile(r"change[-_ ]class\s*[:=]\s*([a-z0-9-]+)", re.IGNORECASE)
TEXT_FIELDS = ("description", "name", "body", "message", "title", "task", "labels", "tag")
AUTHOR_FIELDS = ("author", "actor", "creator", "sender", "pusher", "user", "triggered_by", "committer", "released_by")
EVIDENCE_LIMIT = 200


# ---------------------------------------------------------------- facts from the evidence


def class_from_summary(summary: dict) -> str:
    """The change class CI metadata names in an evidence summary ('' when none)."""
    for key in CLASS_FIELDS:
        value = summary.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    for key in TEXT_FIELDS:
        value = summary.get(key)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, str):
                m = CLASS_TEXT.search(v)
                if m:
                    return m.group(1).lower()
    return ""


def _authors_of(evidence: list[Evidence]) -> list[str]:
    names = set()
    for e in evidence:
        for key in AUTHOR_FIELDS:
            value = e.summary.get(key) if isinstance(e.summary, dict) else None
            if isinstance(value, str) and value.strip() and value != "[redacted]":
                names.add(value.strip()[:200])
        for c in (e.summary.get("commits") or []) if isinstance(e.summary, dict) else []:
            if isinstance(c, dict) and isinstance(c.get("author"), str) and c["author"] not in ("", "[redacted]"):
                names.add(c["author"][:200])
    return sorted(names)


def _upstream_ids(artifact: Artifact) -> list[int]:
    """What the artifact was released, deployed or built from, most recently stated first."""
    return list(
        LineageEdge.objects.filter(target=artifact)
        .order_by("-created_at", "-id")
        .values_list("source_id", flat=True)[:50]
    )


def artifact_digest(artifact: Artifact) -> str:
    """The digest that identifies the exact bits: the artifact's own, else that of what it was most
    recently released or deployed from (a re-pointed tag therefore changes it)."""
    if artifact.digest:
        return artifact.digest
    ids = _upstream_ids(artifact)
    digests = dict(Artifact.objects.filter(pk__in=ids).exclude(digest="").values_list("pk", "digest"))
    for pk in ids:
        if pk in digests:
            return digests[pk]
    return f"uri:{artifact.uri}"


def evidence_set(artifact: Artifact) -> list[Evidence]:
    """The evidence an approver approves: about the artifact itself or what it came from (latest generation only)."""
    ids = [artifact.pk, *_upstream_ids(artifact)]
    linked = EvidenceSubject.objects.filter(artifact_id__in=ids).values("evidence_id")
    return list(
        Evidence.objects.filter(pk__in=linked)
        .select_related("receipt")
        .order_by("-effective_at", "-id")[:EVIDENCE_LIMIT]
    )


def evidence_summary(evidence: list[Evidence]) -> list[dict]:
    """What the decision page shows and each decision freezes."""
    return [
        {
            "id": e.pk,
            "kind": e.kind,
            "title": e.title[:200],
            "verdict": e.verdict,
            "sha256": e.sha256,
            "effective_at": e.effective_at.isoformat(),
        }
        for e in evidence
    ]


# ---------------------------------------------------------------- who may classify


def can_classify(user, system) -> bool:
    """Engineering owners of the system, compliance officers and platform admins set a change class."""
    if not getattr(user, "is_authenticated", False) or is_read_only(user) or not can_see_system(user, system.pk):
        return False
    if user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER):
        return True
    return system.engineering_owners.filter(pk=user.pk).exists()


def _notify_approvers(signoff: ReleaseSignoff) -> None:
    people = {u for s in chain_mod.chain_state(signoff, with_candidates=True) for u in s.candidates}
    if not people:
        return
    title = f"{signoff.reference}: sign-off needed for {signoff.artifact} ({signoff.change_class})"
    url = signoff.get_absolute_url()
    ids = [u.pk for u in people]

    def send():

        notification_send(
            recipients=list(User.objects.filter(pk__in=ids)),
            title=title,
            url=url,
            body=f"{signoff.system.name}, {signoff.environment}. Open the release to review and sign.",
        )

    transaction.on_commit(send, robust=True)


# ---------------------------------------------------------------- classify


def _ensure_may_lower(user, signoff: ReleaseSignoff, *, reason: str) -> None:
    """Lowering the scrutiny a release needs is a compliance officer's reasoned decision, never an author's."""
    if user is None or not user.has_role(Role.COMPLIANCE_OFFICER):
        raise PermissionDenied(
            f"{signoff.reference} is {signoff.change_class}; only a compliance officer may lower its class "
            "(you may raise it)."
        )
    if chain_mod.is_author(user, signoff):
        raise PermissionDenied(
            f"Separation of duties: you are an author of {signoff.reference}; another compliance officer "
            "must lower its class."
        )
    if not reason:
        raise ValidationError({"reason": ["say why this release needs less sign-off than its current class"]})


def _ensure_classifiable(policy, change_class: str, artifact: Artifact) -> None:
    """A known change class, for an artifact of a system (whose risk owners sign off)."""
    if change_class not in policy.classes:
        raise ValidationError(
            {"change_class": [f"unknown change class {change_class!r}; use one of {', '.join(policy.classes)}"]}
        )
    if artifact.system_id is None:
        raise ValidationError("this artifact belongs to no system; sign-off follows the system's risk owners")


def _new_version(signoff: ReleaseSignoff, *, target: str, change_class: str, now: datetime) -> int:
    """Move a reclassified sign-off to a new version, voiding earlier decisions; returns how many were voided."""
    if target == Status.NOT_REQUIRED and signoff.status in (Status.APPROVED, Status.REJECTED):
        raise ValidationError(
            f"{signoff.reference} was {signoff.get_status_display().lower()}; a decided sign-off never "
            f"becomes not required. Classify it in a class that needs sign-off to start a new one."
        )
    signoff.ensure_can_move_to(target)
    signoff.version += 1
    return len(
        decisions_void(
            signoff.decisions.all(),
            reason=f"reclassified as {change_class} (version {signoff.version})",
            now=now,
        )
    )


def release_classify(
    *,
    artifact: Artifact,
    change_class: str,
    actor,
    environment: str | None = None,
    source: str = ReleaseSignoff.ClassSource.OWNER,
    reason: str = "",
    now: datetime | None = None,
) -> ReleaseSignoff:
    """Set (or change) a release's change class; asks its chain for sign-off. A change voids earlier decisions.

    Scrutiny only goes up from input: CI metadata may raise the class (above the current one and
    above anything CI claimed before), never lower it, so a person's class wins over CI. A person
    may raise it; lowering it is a compliance officer's decision (not an author's) with a reason,
    recorded as `release.class_lowered`. A decided sign-off never becomes "not required"."""
    now = now or timezone.now()
    policy = release_policy()
    change_class = (change_class or "").strip().lower()
    reason = (reason or "").strip()
    _ensure_classifiable(policy, change_class, artifact)
    environment = environment or sorted(policy.environments)[0]
    user = None if isinstance(actor, str) else actor
    from_ci = source == ReleaseSignoff.ClassSource.CI
    if user is not None and not can_classify(user, artifact.system):
        raise PermissionDenied(
            "Only the system's engineering owners, compliance officers and admins classify releases."
        )
    with transaction.atomic():
        signoff = (
            ReleaseSignoff.objects.select_for_update()
            .select_related("system", "artifact")
            .filter(artifact=artifact, environment=environment)
            .first()
        )
        evidence = evidence_set(artifact)
        authors = _authors_of(evidence)
        digest_now = artifact_digest(artifact)
        created = signoff is None
        tier = artifact.system.risk_tier

        def chain(name: str):
            return policy.chain_of(name, risk_tier=tier, environment=environment)

        lowered = False
        if created:
            signoff = ReleaseSignoff(artifact=artifact, system=artifact.system, environment=environment, created_at=now)
        elif from_ci:
            claimed_before = signoff.ci_change_class
            raises = chain_raises(chain(change_class), chain(signoff.change_class)) and (
                not claimed_before or chain_raises(chain(change_class), chain(claimed_before))
            )
            if not claimed_before or chain_covers(chain(change_class), chain(claimed_before)):
                signoff.ci_change_class = change_class
            if not raises:
                if signoff.artifact_digest == digest_now:
                    if signoff.ci_change_class != claimed_before:
                        signoff.save(update_fields=["ci_change_class"])
                        ledger_record(
                            actor=actor, action="release.ci_class_kept", target=signoff,
                            data={"claimed": change_class, "kept": signoff.change_class,
                                  "why": "CI metadata may raise a release's class, never lower it"},
                        )  # fmt: skip
                    return signoff
                # New bits under the same release: a new version of the class it has (below).
                change_class, source = signoff.change_class, signoff.class_source
                user = signoff.requested_by
        else:
            lowered = not chain_covers(chain(change_class), chain(signoff.change_class))
            if lowered:
                signoff.authors = sorted(set(authors))  # the authors as of now decide who may lower it
                _ensure_may_lower(user, signoff, reason=reason)
        if not created and (signoff.change_class, signoff.artifact_digest) == (change_class, digest_now) and (
            source == signoff.class_source
        ):
            return signoff  # repeating itself: nothing changes
        if from_ci and created:
            signoff.ci_change_class = change_class
        before = (
            None
            if created
            else {
                "class": signoff.change_class,
                "status": signoff.status,
                "version": signoff.version,
                "digest": signoff.artifact_digest,
            }
        )
        steps = chain(change_class)
        target = Status.PENDING if steps else Status.NOT_REQUIRED
        voided = 0 if created else _new_version(signoff, target=target, change_class=change_class, now=now)
        signoff.change_class, signoff.class_source = change_class, source
        signoff.artifact_digest = digest_now
        signoff.evidence_ids = [e.pk for e in evidence]
        signoff.authors = sorted(set(authors))
        signoff.status, signoff.requested_at = target, now
        signoff.requested_by = user
        signoff.decided_at, signoff.approved_digest = None, ""
        signoff.save()
        action = "release.classified" if created else "release.class_lowered" if lowered else "release.reclassified"
        ledger_record(
            actor=actor, action=action, target=signoff,
            data={"artifact": artifact.uri, "artifact_digest": digest_now, "environment": environment,
                  "change_class": change_class, "source": source, "status": target, "version": signoff.version,
                  "digest": signoff.digest(), "authors": signoff.authors, "reason": reason,
                  "chain": [{"slot": s.slot, "count": s.count} for s in steps], "evidence": signoff.evidence_ids,
                  "voided_decisions": voided, "before": before},
        )  # fmt: skip
        if target == Status.PENDING:
            _notify_approvers(signoff)
    return signoff


def release_track_evidence(*, evidence: list[Evidence]) -> list[ReleaseSignoff]:
    """At parse time: classify the release/deployment subjects of evidence whose CI metadata names a change class."""
    out = []
    policy = release_policy()
    for e in evidence:
        if e.subject_id is None or not isinstance(e.summary, dict):
            continue
        change_class = class_from_summary(e.summary)
        if not change_class or change_class not in policy.classes:
            continue
        artifact = Artifact.objects.filter(pk=e.subject_id, kind__in=SIGNOFF_KINDS, system__isnull=False).first()
        if artifact is None:
            continue
        env = e.summary.get("environment") if isinstance(e.summary.get("environment"), str) else None
        environment = env if env in policy.environments else None
        out.append(release_classify(artifact=artifact, change_class=change_class, actor="system:receipt_parse",
                                    environment=environment, source=ReleaseSignoff.ClassSource.CI))  # fmt: skip
    return out


# ---------------------------------------------------------------- decisions


def _lock(signoff_id: int) -> ReleaseSignoff:
    return ReleaseSignoff.objects.select_for_update().select_related("system", "artifact").get(pk=signoff_id)


def _ensure_digest(signoff: ReleaseSignoff, expected: str | None) -> str:
    return ensure_digest(current=signoff.digest(), expected=expected, reference=signoff.reference,
                         version=signoff.version)  # fmt: skip


def _decide(*, signoff_id, approver, decision, comment, reauthenticated_at, digest, now, slot=None) -> ReleaseSignoff:
    """One decision; a refused attempt (rolled back) is recorded in the ledger on its own."""
    with decision_refusals_recorded(actor=approver, attempt=f"release.{decision}",
                                    target=("releases.releasesignoff", signoff_id), digest=digest):  # fmt: skip
        return _decide_locked(signoff_id=signoff_id, approver=approver, decision=decision, comment=comment,
                              reauthenticated_at=reauthenticated_at, digest=digest, now=now, slot=slot)  # fmt: skip


def _decide_locked(
    *, signoff_id, approver, decision, comment, reauthenticated_at, digest, now, slot=None
) -> ReleaseSignoff:
    now = now or timezone.now()
    with transaction.atomic():
        signoff = _lock(signoff_id)
        if signoff.status != Status.PENDING:
            raise ValidationError(
                f"{signoff.reference} is {signoff.get_status_display().lower()}, not waiting for sign-off"
            )
        slot = chain_mod.ensure_can_decide(approver, signoff, decision=decision, slot=slot)
        ensure_recent_reauth(reauthenticated_at, now=now)  # after SoD: no point re-authenticating to be refused
        bound = _ensure_digest(signoff, digest)
        frozen = {
            "artifact": signoff.artifact.uri,
            "artifact_digest": signoff.artifact_digest,
            "evidence": evidence_summary(list(Evidence.objects.filter(pk__in=signoff.evidence_ids))),
        }
        try:
            with transaction.atomic():
                d = SignoffDecision.objects.create(
                    signoff=signoff, approver=approver, slot=slot, decision=decision, signoff_version=signoff.version,
                    signoff_digest=bound, comment=comment.strip(), frozen_state=frozen,
                    reauthenticated_at=reauthenticated_at, at=now,
                )  # fmt: skip
        except IntegrityError:
            raise PermissionDenied("Separation of duties: you have already decided on this release.") from None
        ledger_record(
            actor=approver, action="release.decision_recorded", target=signoff,
            data={"decision": decision, "slot": slot, "version": signoff.version, "digest": bound,
                  "artifact_digest": signoff.artifact_digest, "comment": d.comment,
                  "reauthenticated_at": reauthenticated_at,
                  "waited_seconds": int((now - signoff.requested_at).total_seconds())},
        )  # fmt: skip
        final = None
        if decision == SignoffDecision.Decision.REJECT:
            final = Status.REJECTED
        elif chain_mod.chain_complete(signoff):
            final = Status.APPROVED
        if final:
            signoff.ensure_can_move_to(final)
            signoff.status, signoff.decided_at = final, now
            signoff.approved_digest = bound if final == Status.APPROVED else ""
            signoff.save(update_fields=["status", "decided_at", "approved_digest"])
            ledger_record(
                actor=approver,
                action="release.approved" if final == Status.APPROVED else "release.rejected",
                target=signoff,
                data={"digest": bound, "artifact": signoff.artifact.uri, "artifact_digest": signoff.artifact_digest,
                      "version": signoff.version, "evidence": signoff.evidence_ids,
                      "decisions": [{"id": x.pk, "slot": x.slot, "approver": x.approver_id, "digest": x.signoff_digest}
                                    for x in signoff.decisions.filter(voided_at__isnull=True)]},
            )  # fmt: skip
    return signoff


def release_approve(
    *,
    signoff_id: int,
    approver,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    comment: str = "",
    now: datetime | None = None,
    slot: str | None = None,
) -> ReleaseSignoff:
    """Record one sign-off; the release is approved when its chain is complete for this exact digest.

    The approver takes the place that keeps the chain completable, or `slot` if they chose one that does."""
    return _decide(signoff_id=signoff_id, approver=approver, decision=SignoffDecision.Decision.APPROVE, comment=comment,
                   reauthenticated_at=reauthenticated_at, digest=digest, now=now, slot=slot)  # fmt: skip


def release_reject(
    *,
    signoff_id: int,
    approver,
    comment: str,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
) -> ReleaseSignoff:
    """Reject a release, with a reason; anyone with standing in its chain (not an author) may."""
    if not (comment or "").strip():
        raise ValidationError({"comment": ["say why the release is rejected"]})
    return _decide(signoff_id=signoff_id, approver=approver, decision=SignoffDecision.Decision.REJECT, comment=comment,
                   reauthenticated_at=reauthenticated_at, digest=digest, now=now)  # fmt: skip


# ---------------------------------------------------------------- the gate's check


def _norm(digest: str) -> str:
    digest = (digest or "").strip().lower()
    return digest.split(":", 1)[1] if ":" in digest and not digest.startswith("uri:") else digest


def release_gate_items(*, artifact: Artifact, environment: str = "", digest: str = "") -> list[dict]:
    """What release sign-off says at the gate: items in the gate's format that block (empty: nothing blocks).

    Refuses a classified release whose chain is not complete, and one whose digest (the one
    CI is about to ship, `?digest=`, else the artifact's current one) is not the approved one."""
    policy = release_policy()
    qs = ReleaseSignoff.objects.filter(artifact=artifact).select_related("artifact", "system")
    environment = (environment or "").strip()
    signoffs = list(
        qs.filter(environment=environment) if environment else qs.filter(environment__in=policy.environments)
    )
    items = []
    for s in signoffs:
        if s.status == Status.NOT_REQUIRED or s.environment not in policy.environments:
            continue
        base = {
            "control": "release-signoff",
            "rule": f"release.signoff.{s.change_class}",
            "severity": "high",
            "mode": "gate",
            "scope": "subject",
        }
        if s.status != Status.APPROVED:
            steps = chain_mod.chain_state(s)
            waiting = ", ".join(f"{st.remaining} more {st.step.label.lower()}" for st in steps if st.remaining)
            what = (
                "was rejected"
                if s.status == Status.REJECTED
                else f"is waiting for sign-off ({waiting or 'chain incomplete'})"
            )
            items.append(
                {
                    **base,
                    "status": "missing",
                    "reason": f"{s.reference}: the {s.change_class} release to {s.environment} {what}",
                }
            )
            continue
        presented = digest or artifact_digest(artifact)
        if _norm(presented) != _norm(s.artifact_digest):
            items.append(
                {
                    **base,
                    "status": "fail",
                    "reason": f"{s.reference}: digest {presented} is not the one signed off ({s.artifact_digest}); "
                    "a changed artifact needs a new sign-off",
                }
            )
        elif s.digest() != s.approved_digest:
            items.append(
                {
                    **base,
                    "status": "fail",
                    "reason": f"{s.reference}: the approved evidence set or class changed since sign-off",
                }
            )
    return items
