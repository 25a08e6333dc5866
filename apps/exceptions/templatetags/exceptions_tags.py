"""The overview page's "expiring exceptions" card, as an inclusion tag (the overview view stays the policy app's)."""

from django import template

from apps.exceptions.selectors import exception_metrics_latest, exception_summary_for_user

register = template.Library()


@register.inclusion_tag("exceptions/_expiring_card_body.html", takes_context=True)
def expiring_exceptions_card(context):
    user = context["request"].user
    return {
        "summary": exception_summary_for_user(user=user),
        "metrics": [m for m in exception_metrics_latest(user=user) if m.pending or m.active],
    }
