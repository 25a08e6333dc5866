"""API conventions shared by every app: errors are {"error": "<what is wrong>"}, mapped here once."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseServerError, JsonResponse
from django.middleware.common import CommonMiddleware as _DjangoCommonMiddleware
from django.shortcuts import render
from django.template import loader
from django.urls import is_valid_path
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import permission_denied as django_permission_denied
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.renderers import JSONRenderer

from apps.common.states import InvalidTransition

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


class Conflict(APIException):
    """409: the move is not allowed from the row's current status (apps.common.states.InvalidTransition)."""

    status_code = 409
    default_detail = "That move is not allowed in the current status."
    default_code = "invalid_transition"


def domain_error(exc):
    """The one mapping of the services' exceptions to API errors; anything else is returned as it is.

    InvalidTransition -> 409; Django's ValidationError -> 400 (per field when it has fields).
    Django's PermissionDenied (403) and Http404 (404) DRF's own handler maps already.
    """
    if isinstance(exc, InvalidTransition):
        return Conflict(str(exc))
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return ValidationError({k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()})
        return ValidationError(exc.messages)
    return exc


def exception_handler(exc, context):
    """DRF's handler, reshaped to the contract's error body, with the services' errors mapped (domain_error)."""
    from rest_framework.response import Response  # noqa: PLC0415 - as rest_framework.views below

    body = refusal_body(exc)
    if body is not None:
        return Response(body, status=exc.status_code)
    exc = domain_error(exc)
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which names this module's
    # JSONParser, so importing it at the top is a cycle whenever this module is imported first.
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415 - see above

    response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # The error body is JSON whatever the endpoint renders (the schema view renders YAML): DRF
        # renders the answer with the request's negotiated renderer, so set it here.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    if response is not None:
        response.data = {"error": _flatten(response.data.get("detail", response.data))
                         if isinstance(response.data, dict) else _flatten(response.data)}
    return response


# Django's error handlers (handler400/403/404/500 in compliance_portal/urls.py): JSON under /api/,
# whatever the route (clients parse the contract's error body), and the styled pages with the
# navigation elsewhere (templates/400.html, 403.html, 404.html, 500.html).


def _is_api(request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


class CommonMiddleware(_DjangoCommonMiddleware):
    """Django's CommonMiddleware, but no APPEND_SLASH redirect of an API write: a 301 answered it with an
    HTML body and the client's retry became a GET. It gets the JSON 404, which names the right path."""

    def should_redirect_with_slash(self, request):
        if _is_api(request) and request.method not in ("GET", "HEAD"):
            return False
        return super().should_redirect_with_slash(request)


def not_found(request, exception=None):
    """404: no route, or an object that does not exist or is outside what the user may see."""
    if _is_api(request):
        error = f"no API endpoint at {request.path[:200]}"
        if not request.path.endswith("/") and is_valid_path(f"{request.path}/", getattr(request, "urlconf", None)):
            error += f"; did you mean {request.path[:200]}/?"
        return JsonResponse({"error": error}, status=404)
    return page_not_found(request, exception)


def permission_denied(request, exception=None):
    """403: the page exists and the user may not use it."""
    if _is_api(request):
        return JsonResponse({"error": str(exception or "") or "not allowed"}, status=403)
    return django_permission_denied(request, exception)


def csrf_failure(request, reason=""):
    """403 from the CSRF check (settings.CSRF_FAILURE_VIEW): Django's own page is bare, without the frame."""
    if _is_api(request):
        return JsonResponse({"error": f"CSRF check failed: {reason}".strip()}, status=403)
    return render(request, "403.html", {"csrf_failed": True}, status=403)


def bad_request(request, exception=None):
    """400 raised outside a view's own handling (e.g. a suspicious request)."""
    if _is_api(request):
        return JsonResponse({"error": "bad request"}, status=400)
    return django_bad_request(request, exception)


def server_error(request):
    """500: with the navigation when the page can still be drawn with the request, else a bare one."""
    if _is_api(request):
        return JsonResponse({"error": "internal server error"}, status=500)
    try:
        body = loader.render_to_string("500.html", {"request": request}, request=request)
    except Exception:  # the error may be the database the context processors need: draw the page without them
        logging.getLogger(__name__).exception("the 500 page could not be drawn with the request")
        body = loader.render_to_string("500.html", {"bare": True})
    return HttpResponseServerError(body)
