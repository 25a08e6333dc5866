"""API pieces every client of the approval engine shares: the decision input."""

from __future__ import annotations

from rest_framework import serializers

from apps.approvals.slots import Slot


class DecisionInput(serializers.Serializer):
    """One approve/reject decision: bound to the digest reviewed, after step-up re-authentication."""

    comment = serializers.CharField(required=False, allow_blank=True, default="")
    digest = serializers.CharField(
        help_text="The digest of the version you reviewed (the object's `digest`); refused if it changed since."
    )
    password = serializers.CharField(
        required=False,
        write_only=True,
        style={"input_type": "password"},
        help_text="Re-authentication, unless this session re-authenticated recently.",
    )
    otp_token = serializers.CharField(required=False, allow_blank=True, default="", help_text="TOTP code, if enrolled.")
    slot = serializers.ChoiceField(
        choices=Slot.choices,
        required=False,
        help_text="The place in the chain to approve in (optional): refused if it would leave the chain "
        "impossible to complete. Without it, the engine picks a place that keeps the chain completable.",
    )
