from django import template
from django.middleware.csrf import get_token

from apps.accounts.scoping import auditor_grants, is_scoped_auditor
from apps.engagements.forms import ReviewForm
from apps.engagements.models import EvidenceReview

register = template.Library()


@register.inclusion_tag("engagements/_evidence_reviews.html", takes_context=True)
def evidence_reviews(context, evidence):
    """Review marks on a piece of evidence, and, for its auditors, the form to mark it."""
    request = context["request"]
    user = request.user
    reviews = EvidenceReview.objects.filter(evidence=evidence).select_related("engagement", "reviewer")
    forms = []
    if is_scoped_auditor(user):
        grants = [
            g
            for g in auditor_grants(user)
            if evidence.system_id in g.system_ids and g.observation_start <= evidence.effective_at < g.observation_end
        ]
        ids = [g.engagement_id for g in grants]
        reviews = reviews.filter(engagement_id__in=ids)
        current = {r.engagement_id: r for r in reviews}
        for engagement_id in ids:
            review = current.get(engagement_id)
            initial = {
                "engagement": engagement_id,
                "mark": review.mark if review else "",
                "comment": review.comment if review else "",
            }
            forms.append(
                {"engagement_id": engagement_id, "form": ReviewForm(initial=initial, prefix=f"e{engagement_id}")}
            )
    return {
        "evidence": evidence,
        "reviews": list(reviews),
        "forms": forms,
        "csrf_token": get_token(request),
    }
