"""Every request an auditor makes is recorded in the ledger: their access log per engagement."""

from __future__ import annotations

import logging

from apps.accounts.scoping import is_scoped_auditor
from apps.engagements.services import engagement_access_record

logger = logging.getLogger(__name__)


class AuditorAccessLogMiddleware:
    """After the response: `auditor.page_viewed`, or `auditor.downloaded` for attachments.

    Views that know what was downloaded (the raw evidence download: its id and sha256) put it in
    `request.auditor_access_data`, which the entry carries; views below this app's layer cannot
    call engagements themselves. Static files never get here (whitenoise answers first).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and is_scoped_auditor(user):
            attachment = "attachment" in response.get("Content-Disposition", "")
            query = request.META.get("QUERY_STRING", "")
            engagement_access_record(
                user=user,
                action="auditor.downloaded" if attachment else "auditor.page_viewed",
                method=request.method,
                path=request.path + (f"?{query}" if query else ""),
                status=response.status_code,
                data=getattr(request, "auditor_access_data", None),
            )
        return response
