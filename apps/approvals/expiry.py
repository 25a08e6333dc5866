"""Expiry of a decision, one way everywhere: a date means "until the end of that day" (the portal's time zone).

Stored as the first instant of the next day; shown as the chosen day ("end of 2026-12-30"),
never as "2026-12-31 00:00"; the longest allowed expiry is the end of the day the tier's
maximum falls on, so the date a form recommends is a date it accepts.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from django.utils import timezone


def end_of_day(day: date) -> datetime:
    """A date means "until the end of that day": the first instant of the next one."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def expiry_day(expires_at: datetime) -> date:
    """The last day a decision expiring at `expires_at` is in force (the day a person chose)."""
    return timezone.localdate(expires_at - timedelta(microseconds=1))


def latest_expiry(*, now: datetime, max_days: int) -> datetime:
    """The longest allowed expiry: the end of the day `max_days` from now falls on."""
    return end_of_day(timezone.localdate(now + timedelta(days=max_days)))


def days_left_phrase(left: timedelta) -> str:
    """How long is left, as people count it: 8.99 days is "in 9 days", under a day "within a day"."""
    days = math.ceil(left.total_seconds() / 86400)
    if days <= 1:
        return "within a day"
    return f"in {days} days"
