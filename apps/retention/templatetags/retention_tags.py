from django import template

from apps.retention.selectors import evidence_retention

register = template.Library()


@register.inclusion_tag("retention/_evidence_retention.html")
def evidence_retention_panel(evidence):
    """Kept until, schedule, holds, disposal, redaction and identifier flag of one piece of evidence."""
    return {"evidence": evidence, "r": evidence_retention(evidence)}
