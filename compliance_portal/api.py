"""API conventions shared by every app: errors are {"error": "<what is wrong>"}."""

from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    """DRF's handler, reshaped to the contract's error body."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"error": _flatten(response.data.get("detail", response.data))
                         if isinstance(response.data, dict) else _flatten(response.data)}
    return response
