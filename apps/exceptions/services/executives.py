"""Designating the executives who approve the highest tier."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from apps.exceptions import chain as chain_mod
from apps.ledger.services import ledger_record

# ---------------------------------------------------------------- designated executives


@transaction.atomic
def exception_executive_set(*, user, designated: bool, actor) -> None:
    """Designate (or stop designating) a user as executive approver of critical-tier exceptions."""

    group, _ = Group.objects.get_or_create(name=chain_mod.EXECUTIVE_GROUP)
    was = user.groups.filter(pk=group.pk).exists()
    if was == designated:
        return
    (user.groups.add if designated else user.groups.remove)(group)
    user.__dict__.pop("_exception_exec", None)
    ledger_record(
        actor=actor,
        action="exception.executive_designated" if designated else "exception.executive_removed",
        target=user,
        data={"username": user.username},
    )
