"""The overview page's "expiring exceptions" card, as an inclusion tag (the overview view stays the policy app's)."""

from django import template

from apps.exceptions.selectors import exception_metrics_latest, exception_summary_for_user

register = template.Library()

# The card's latency table lists the busiest systems only (most pending + active exceptions), so the
# overview costs the same with 20 systems or 2,000; the register has them all.
CARD_SYSTEMS = 10


@register.inclusion_tag("exceptions/_expiring_card_body.html", takes_context=True)
def expiring_exceptions_card(context):
    user = context["request"].user
    metrics, systems = exception_metrics_latest(user=user, limit=CARD_SYSTEMS)
    return {"summary": exception_summary_for_user(user=user), "metrics": metrics, "metric_systems": systems}
