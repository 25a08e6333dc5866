"""Release sign-off pages: list, classify, detail (chain, evidence approved, time per step), decide."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.scoping import can_see_system, is_read_only, visible_system_ids
from apps.approvals.reauth import reauth_is_fresh, reauth_time, user_needs_otp
from apps.common.sorting import sort_read
from apps.evidence.lineage.chain import release_chain
from apps.evidence.models import Artifact
from apps.formats import ParseError
from apps.policy.selectors import subject_get
from apps.releases import chain as chain_mod
from apps.releases import selectors, services
from apps.releases.forms import ClassifyForm, DecisionForm
from apps.releases.models import ReleaseSignoff
from apps.releases.policy import release_policy


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# The columns the sign-off list sorts by (?sort=); anything else keeps the default, newest request first.
SORT_COLUMNS = {
    "requested": ("requested_at",),
    "system": ("system__name", "requested_at"),
    "class": ("change_class", "requested_at"),
    "status": ("status", "requested_at"),
}


@login_required
def signoff_list(request):
    status = request.GET.get("status", "")
    status = status if status in ReleaseSignoff.Status.values else ""
    sort = sort_read(request.GET, SORT_COLUMNS, default="-requested")
    return render(
        request,
        "releases/signoff_list.html",
        {
            "signoffs": sort.apply(selectors.signoff_list_for_user(user=request.user, status=status))[:200],
            "status": status,
            "sort": sort,
            "statuses": ReleaseSignoff.Status.choices,
            "policy": release_policy(),
            "latency": selectors.release_signoff_latency(system_ids=visible_system_ids(request.user)),
            "form": ClassifyForm(),
            # the same test as signoff_classify_new: no link to a page that would refuse them
            "can_classify": not is_read_only(request.user),
        },
    )


@login_required
def signoff_classify_new(request):
    """Classify an artifact named by id or identity (owners, compliance officers, admins)."""

    if is_read_only(request.user):
        raise PermissionDenied("Auditors read sign-offs; they do not classify releases.")
    form = ClassifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            artifact = subject_get(form.cleaned_data["subject"])
        except (Http404, ParseError):
            form.add_error("subject", "No artifact with that id or identity.")
        else:
            if not can_see_system(request.user, artifact.system_id):
                form.add_error("subject", "No artifact with that id or identity.")
            else:
                try:
                    signoff = services.release_classify(
                        artifact=artifact,
                        change_class=form.cleaned_data["change_class"],
                        actor=request.user,
                        environment=form.cleaned_data["environment"] or None,
                        reason=form.cleaned_data["reason"],
                    )
                except ValidationError as exc:
                    form.add_error(None, _errors(exc))
                else:
                    messages.success(request, f"{signoff.reference} is {signoff.get_status_display().lower()}.")
                    return redirect(signoff)
    return render(
        request,
        "releases/classify.html",
        {"form": form, "policy": release_policy()},
        status=400 if request.method == "POST" else 200,
    )


def _detail_context(request, signoff, *, decision_form=None, classify_form=None) -> dict:
    user = request.user
    slots = chain_mod.open_slots_for(user, signoff) if signoff.status == ReleaseSignoff.Status.PENDING else []
    return {
        "signoff": signoff,
        "chain": chain_mod.chain_state(signoff, with_candidates=True),
        "steps": selectors.timeline_steps(signoff),
        "decisions": selectors.decisions_of(signoff),
        "evidence": selectors.evidence_of(signoff),
        "digest": signoff.digest(),
        "my_slots": slots,
        "is_author": chain_mod.is_author(user, signoff),
        "reauth_fresh": reauth_is_fresh(reauth_time(request)),
        "needs_otp": user_needs_otp(user),
        "reauth_url": reverse("approvals:reauth") + "?next=" + signoff.get_absolute_url(),
        "decision_form": decision_form or DecisionForm(initial={"digest": signoff.digest()}),
        "can_classify": services.can_classify(user, signoff.system),
        "classify_form": classify_form or ClassifyForm(initial={"change_class": signoff.change_class}),
        "policy": release_policy(),
        "gate": services.release_gate_items(artifact=signoff.artifact, environment=signoff.environment),
        "answer": selectors.release_gate_answer(signoff, user=user),
        "evidence_chain": selectors.release_evidence_chain(signoff, user=user),
        # commit -> build -> image -> release -> deployment, with the missing links named (issue 20)
        "release_chain": (
            release_chain(user=user, release=signoff.artifact)
            if signoff.artifact.kind == Artifact.Kind.RELEASE
            else None
        ),
    }


@login_required
def signoff_detail(request, pk: int):
    signoff = selectors.signoff_get_for_user(user=request.user, pk=pk)
    return render(request, "releases/signoff_detail.html", _detail_context(request, signoff))


@require_POST
@login_required
def signoff_decide(request, pk: int):
    signoff = selectors.signoff_get_for_user(user=request.user, pk=pk)
    if is_read_only(request.user):
        raise PermissionDenied("Auditors never sign releases off.")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return render(
            request, "releases/signoff_detail.html", _detail_context(request, signoff, decision_form=form), status=400
        )
    service = services.release_approve if form.cleaned_data["decision"] == "approve" else services.release_reject
    try:
        signoff = service(
            signoff_id=signoff.pk,
            approver=request.user,
            comment=form.cleaned_data["comment"],
            reauthenticated_at=reauth_time(request),
            digest=form.cleaned_data["digest"],
        )
    except PermissionDenied as exc:
        if not reauth_is_fresh(reauth_time(request)) and "Re-authenticate" in str(exc):
            return redirect(reverse("approvals:reauth") + "?next=" + signoff.get_absolute_url())
        raise
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return render(
            request, "releases/signoff_detail.html", _detail_context(request, signoff, decision_form=form), status=400
        )
    messages.success(request, f"Recorded. {signoff.reference} is {signoff.get_status_display().lower()}.")
    return redirect(signoff)


@require_POST
@login_required
def signoff_classify(request, pk: int):
    signoff = selectors.signoff_get_for_user(user=request.user, pk=pk)
    if is_read_only(request.user):
        raise PermissionDenied("Auditors read sign-offs; they do not classify releases.")
    form = ClassifyForm(request.POST)
    if not form.is_valid():
        return render(
            request, "releases/signoff_detail.html", _detail_context(request, signoff, classify_form=form), status=400
        )
    try:
        signoff = services.release_classify(
            artifact=signoff.artifact,
            change_class=form.cleaned_data["change_class"],
            actor=request.user,
            environment=signoff.environment,
            reason=form.cleaned_data["reason"],
        )
    except (ValidationError, PermissionDenied) as exc:
        # A refused downgrade is shown on the page, next to the form that asked for it.
        form.add_error(None, _errors(exc) if isinstance(exc, ValidationError) else str(exc))
        return render(
            request,
            "releases/signoff_detail.html",
            _detail_context(request, signoff, classify_form=form),
            status=400 if isinstance(exc, ValidationError) else 403,
        )
    messages.success(
        request, f"{signoff.reference} is now {signoff.change_class}: {signoff.get_status_display().lower()}."
    )
    return redirect(signoff)
