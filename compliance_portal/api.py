"""API conventions shared by every app: errors are {"error": "<what is wrong>"}."""

from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(item) for item in detail)
    return str(detail)


def refusal_body(exc) -> dict | None:
    """The error body of a service's refusal that carries its own status (e.g. apps.ingest's
    AcceptRefused: `status_code` and `extra` fields such as both sha256 values of a 409)."""
    if isinstance(getattr(exc, "status_code", None), int) and isinstance(getattr(exc, "extra", None), dict):
        return {"error": str(exc), **exc.extra}
    return None


def exception_handler(exc, context):
    """DRF's handler, reshaped to the contract's error body."""
    from rest_framework.response import Response

    body = refusal_body(exc)
    if body is not None:
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"error": _flatten(response.data.get("detail", response.data))
                         if isinstance(response.data, dict) else _flatten(response.data)}
    return response


def not_found(request, exception=None):
    """404 for a URL that matches no route: JSON under /api/ (clients parse the contract's error body)."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"no API endpoint at {request.path[:200]}"}, status=404)
    return page_not_found(request, exception)
