"""Template filters of the approval engine: an expiry shown as the chosen day."""

from django import template

from apps.approvals.expiry import expiry_day as _expiry_day

register = template.Library()


@register.filter
def expiry_day(value):
    """`{{ req.expires_at|expiry_day|date:"Y-m-d" }}`: the last day in force (empty for no value)."""
    return _expiry_day(value) if value else ""
