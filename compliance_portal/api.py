"""API conventions shared by every app: errors are {"error": "<what is wrong>"}."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.views import exception_handler as drf_exception_handler

# No document any endpoint takes nests deeper than this (OSCAL catalogs: about 10 levels). Deeper
# JSON is refused with a 400 rather than handed to code that recurses (serializers, canonical JSON).
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit` (an explicit stack: no recursion to run out of)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus a 400 for JSON nested too deeply (it was a RecursionError: a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        error = f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and arrays"
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(error) from None
        if json_depth_exceeds(data):
            raise ParseError(error)
        return data


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
