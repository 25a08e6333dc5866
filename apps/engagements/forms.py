"""HTML input parsing for engagements: opening one, PBC requests and answers, reviews, samples."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.engagements.models import EvidenceReview, SampleItem
from apps.engagements.populations import POPULATIONS
from apps.engagements.services import engagement_controls
from apps.inventory.models import FrameworkCode, System
from apps.policy.models import Control

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PersonMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.username})"


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.username})"


class EngagementForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    auditors = PersonMultipleChoiceField(queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple)
    systems = forms.ModelMultipleChoiceField(
        queryset=System.objects.order_by("name"), widget=forms.CheckboxSelectMultiple
    )
    frameworks = forms.MultipleChoiceField(
        choices=FrameworkCode.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    observation_start = forms.DateTimeField(widget=DATETIME, help_text="UTC. Evidence effective from here…")
    observation_end = forms.DateTimeField(widget=DATETIME, help_text="…to here is under audit.")
    access_start = forms.DateTimeField(widget=DATETIME, help_text="UTC. Auditors may look from here…")
    access_end = forms.DateTimeField(widget=DATETIME, help_text="…until here; access ends by itself.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["auditors"].queryset = User.objects.filter(groups__name=Role.AUDITOR, is_active=True).order_by(
            "username"
        )

    def clean(self):
        data = super().clean()
        for start, end, what in (
            ("observation_start", "observation_end", "observation"),
            ("access_start", "access_end", "access"),
        ):
            if data.get(start) and data.get(end) and data[end] <= data[start]:
                self.add_error(end, f"The {what} window must end after it starts.")
        return data


class ControlChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.framework.code} {obj.label} — {obj.title}"


class EvidenceRequestForm(forms.Form):
    system = forms.ModelChoiceField(queryset=System.objects.none())
    control = ControlChoiceField(
        queryset=Control.objects.none(),
        to_field_name="control_id",
        required=False,
        help_text="A control of the engagement's frameworks.",
    )
    control_ref = forms.CharField(
        max_length=120,
        required=False,
        label="…or another reference",
        help_text="Only when the control is not in the list, e.g. an internal policy number.",
    )
    title = forms.CharField(max_length=300, label="What is needed")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    due_date = forms.DateField(widget=DATE)
    assignee = PersonChoiceField(queryset=User.objects.none(), help_text="Who answers on the system's side.")

    def __init__(self, *args, engagement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = engagement.systems.order_by("name")
        # Only the controls of the engagement's frameworks are offered (the service checks it again).
        self.fields["control"].queryset = engagement_controls(engagement)
        self.fields["assignee"].queryset = (
            User.objects.filter(
                is_active=True, groups__name__in=[Role.ENGINEER, Role.RISK_OWNER, Role.COMPLIANCE_OFFICER]
            )
            .distinct()
            .order_by("username")
        )


    def clean(self):
        data = super().clean()
        if not data.get("control") and not (data.get("control_ref") or "").strip() and "control" not in self.errors:
            self.add_error("control", "Choose the control (or give another reference).")
        return data


class _AnswerForm(forms.Form):
    """An owner's answer to the auditor: existing evidence of the system in the window, and/or a file."""

    evidence = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Link existing evidence"
    )
    file = forms.FileField(required=False, label="…or upload a file")
    effective_at = forms.DateTimeField(
        required=False,
        widget=DATETIME,
        label="The upload's effective time (UTC)",
        help_text="When the uploaded evidence speaks about; must fall in the observation window.",
    )

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evidence"].choices = [(e.pk, f"{e.title[:100]} ({e.effective_at:%Y-%m-%d})") for e in candidates]

    def clean(self):
        data = super().clean()
        if data.get("file") and not data.get("effective_at"):
            self.add_error("effective_at", "An upload needs its effective time.")
        return data


class EvidenceRequestAnswerForm(_AnswerForm):
    """An answer to an evidence request links evidence or uploads a file; a note may go with it."""

    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if not data.get("evidence") and not data.get("file"):
            raise ValidationError("Link at least one piece of evidence or upload a file.")
        return data


class ReopenForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ReviewForm(forms.Form):
    engagement = forms.IntegerField(widget=forms.HiddenInput)
    mark = forms.ChoiceField(choices=EvidenceReview.Mark.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Required for a flag; the owners see it."
    )

    def clean(self):
        data = super().clean()
        if data.get("mark") == EvidenceReview.Mark.FLAGGED and not (data.get("comment") or "").strip():
            self.add_error("comment", "A flag needs a comment that tells the owner what is wrong.")
        return data


class SampleForm(forms.Form):
    population = forms.ChoiceField()
    size = forms.IntegerField(min_value=1, max_value=500)
    seed = forms.CharField(required=False, max_length=64, help_text="Leave empty for a fresh random seed (recorded).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["population"].choices = [(p.key, p.label) for p in POPULATIONS.values()]


class SampleItemTestForm(forms.Form):
    result = forms.ChoiceField(choices=[c for c in SampleItem.Result.choices if c[0] != SampleItem.Result.UNTESTED])
    note = forms.CharField(required=False, max_length=2000)


class FlagForm(forms.Form):
    """The auditor flags one piece of a control's evidence (the service checks it is the control's, in scope)."""

    evidence = forms.IntegerField(min_value=1)
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class FlagAnswerForm(_AnswerForm):
    """The owner answers a flag: a note, evidence of the system in the window, and/or a file."""

    body = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
                           label="Your answer to the auditor")  # fmt: skip
    field_order = ["body", "evidence", "file", "effective_at"]


class FlagReviewForm(forms.Form):
    """The auditor re-reviews an answer: accept, or send back saying what is missing."""

    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reopen", "Send back")])
    body = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
