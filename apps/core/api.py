"""One error format for the whole API: RFC 9457 problem details with a stable `code`."""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import DomainError


def _problem(status_code: int, code: str, detail, errors=None) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status_code).phrase}
    body.update({"status": status_code, "code": code, "detail": detail})
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, content_type="application/problem+json")


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _problem(400, "invalid", "The request was not valid.", errors)
    if isinstance(exc, DjangoPermissionDenied):
        return _problem(403, "permission_denied", str(exc) or "You may not do this.")
    if isinstance(exc, DomainError):
        return _problem(exc.status, exc.code, exc.message)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return _problem(400, "invalid", "The request was not valid.", response.data)
    code = getattr(exc, "default_code", "error")
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    return _problem(response.status_code, str(code), str(detail))
