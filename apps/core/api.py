"""One error format for the whole API (RFC 9457 problem details with a stable `code`), and the helpers every
app's API shares: body parsing, page links, the documented `?ordering=`, the documented FilterSet."""

import functools
from collections.abc import Mapping
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, pagination, serializers, throttling
from rest_framework.response import Response

from . import counters, paging
from .exceptions import DomainError


def _problem_body(status_code: int, code: str, detail, errors=None) -> dict:
    body = {"type": "about:blank", "title": HTTPStatus(status_code).phrase}
    body.update({"status": status_code, "code": code, "detail": detail})
    if errors:
        body["errors"] = errors
    return body


def _problem(status_code: int, code: str, detail, errors=None) -> Response:
    body = _problem_body(status_code, code, detail, errors)
    return Response(body, status=status_code, content_type="application/problem+json")


def problem_response(status_code: int, code: str, detail: str, errors=None) -> JsonResponse:
    """The same problem document, for answers given before DRF runs (middleware)."""
    body = _problem_body(status_code, code, detail, errors)
    return JsonResponse(body, status=status_code, content_type="application/problem+json")


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _problem(400, "invalid", "The request was not valid.", errors)
    if isinstance(exc, DjangoPermissionDenied):
        return _problem(403, "permission_denied", str(exc) or "You may not do this.")
    if isinstance(exc, DomainError):
        return _problem(exc.status, exc.code, exc.message)
    # Imported here: DRF's settings import this module (pagination, throttling) before DRF's views exist.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestDataTooBig):
        return _problem(413, "payload_too_large", "The request body is larger than this API accepts.")
    if isinstance(exc, Http404):  # DRF converts it too, but the code is read from the exception itself
        exc = exceptions.NotFound(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return _problem(400, "invalid", "The request was not valid.", response.data)
    code = getattr(exc, "default_code", "error")
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    problem = _problem(response.status_code, str(code), str(detail))
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):  # what DRF set for the client to act on
        if header in response:
            problem[header] = response[header]
    return problem


class StrictInput(serializers.Serializer):
    """An input body: a JSON object whose keys are all writable fields; anything else is a 400 naming the keys.

    DRF ignores unknown keys by default, so a misspelt `risk_teir` would pass silently; here it cannot.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({key: ["Unknown or read-only field."] for key in unknown})
        return super().to_internal_value(data)


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is larger than this server accepts."
    default_code = "payload_too_large"


def parse_body(request, serializer_class, *, partial=False, **context) -> dict:
    """The body, validated by `serializer_class`: a 400 problem for anything unknown or malformed, 413 if huge.

    Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with RequestDataTooBig, which DRF does not handle
    (it would reach the client as an HTML 400); here it becomes a problem document like every other error.
    """
    try:
        data = request.data
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    serializer = serializer_class(data=data, partial=partial, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def page_url(path: str) -> str:
    """The portal page for a path, as people open it (PORTAL_BASE_URL, like e-mails and reports)."""
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def ordering_parameter(*fields):
    """`?ordering=` documented with its values (DRF's filter describes it only as a string)."""
    values = [value for field in fields for value in (field, f"-{field}")]
    return OpenApiParameter("ordering", str, enum=values, description="Sort order; `-` reverses it.")


class DocumentedFilters(DjangoFilterBackend):
    """Documents the view's `filterset_class` in the schema, but filters nothing: the view's selector already
    applied the same FilterSet (one filter per list, shared by the page and the API)."""

    def filter_queryset(self, request, queryset, view):
        return queryset


# The README's promise for every list: at most this many items a page. A larger `page_size` gives this many (DRF's
# cap, as for any list), never more and never an error: a client that asks for everything follows `next`.
MAX_PAGE_SIZE = 200
PAGE_SIZE_DESCRIPTION = f"Items a page (default 50, at most {MAX_PAGE_SIZE}: a larger number gives {MAX_PAGE_SIZE})."


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` (at most 200 a page); a page that does not exist is a 400 naming `page`."""

    page_size_query_param = "page_size"
    page_size_query_description = PAGE_SIZE_DESCRIPTION
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({"page": [str(exc.detail)]}) from exc


class CountedPagination(PageNumberPagination):
    """PageNumberPagination for a list whose length the view holds already (`view.list_count()`, such as a count
    the services keep on a row): the same pages and `count`, without a COUNT(*) per request."""

    def paginate_queryset(self, queryset, request, view=None):
        self.django_paginator_class = functools.partial(paging.CountedPaginator, count=view.list_count())
        return super().paginate_queryset(queryset, request, view)


class CursorPagination(pagination.CursorPagination):
    """Opaque `?cursor=` links: stable under inserts, for long append-only lists (the audit trail); 200 a page."""

    page_size_query_param = "page_size"
    page_size_query_description = PAGE_SIZE_DESCRIPTION
    max_page_size = MAX_PAGE_SIZE
    ordering = "-sequence"


class KeysetPagination(pagination.BasePagination):
    """`?cursor=` pages of a list a selector pages with apps.core.keyset (the view calls the selector with
    `cursor_of()` and `page_size_of()`, then `response()`): every page costs the same, and `count` stops at
    1,000 (`count_capped` says so). `?page=` is refused, so a client written for
    numbered pages does not read page 1 forever."""

    page_size_query_param = "page_size"

    def page_size_of(self, request) -> int:
        """`page_size` as the other lists read it: at most 200, the default when missing or not a number."""
        from rest_framework.settings import api_settings

        try:
            size = int(request.query_params.get(self.page_size_query_param) or 0)
        except ValueError:
            size = 0
        return min(size, MAX_PAGE_SIZE) if size > 0 else api_settings.PAGE_SIZE

    def cursor_of(self, request) -> str | None:
        if "page" in request.query_params:
            raise exceptions.ValidationError(
                {"page": ["This list pages by cursor, not by number: follow `next` (it carries `cursor=`)."]}
            )
        return request.query_params.get("cursor") or None

    def response(self, request, page, data) -> Response:
        if page.error:
            raise exceptions.ValidationError({"cursor": [page.error.replace(": showing the first page", "")]})
        return Response({
            "count": page.count,
            "count_capped": page.count_capped,
            "next": self._link(request, page.next_cursor),
            "previous": self._link(request, page.previous_cursor),
            "results": data,
        })  # fmt: skip

    @staticmethod
    def _link(request, cursor):
        if cursor is None:
            return None
        from rest_framework.utils.urls import replace_query_param

        return replace_query_param(request.build_absolute_uri(), "cursor", cursor)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Rows in the list, counted up to 1,000."},
                "count_capped": {"type": "boolean", "description": "True when the list holds more than `count`."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "required": False, "in": "query", "schema": {"type": "string"},
             "description": "Where the page starts: the opaque value in `next` or `previous`."},
            {"name": "page_size", "required": False, "in": "query", "schema": {"type": "integer"},
             "description": PAGE_SIZE_DESCRIPTION},
        ]  # fmt: skip


class PrincipalRateThrottle(throttling.SimpleRateThrottle):
    """A request budget per service token (per person for sessions, per address for anonymous requests).

    Counted in fixed windows (a minute, an hour, ...) with an atomic increment in the shared cache, so every web
    process draws on the same budget; DRF's own history list is read and written back, losing counts between
    processes. A window's budget can be spent at its very end and again at the start of the next.
    """

    scope = "principal"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        count, self.retry_after, _start = counters.window_count(key, seconds=self.duration)
        return count <= self.num_requests

    def wait(self):
        return self.retry_after

    def get_cache_key(self, request, view):
        token = getattr(request.user, "api_token", None)
        if token is not None:
            ident = f"token-{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, in words and as a stable code.",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Forbidden"},
        "status": {"type": "integer", "example": 403},
        "code": {"type": "string", "example": "self_approval_forbidden"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True, "description": "Field → messages (400 only)."},
    },
    "required": ["type", "title", "status", "code", "detail"],
}
_ERRORS = {
    "400": "Invalid input: unknown fields, wrong types, a bad cursor or filter (`errors` names the fields); a NUL "
    "character, text that is not UTF-8 or an overlong parameter (`invalid_input`).",
    "401": "No credentials, or a token that is unknown, expired or revoked.",
    "403": "Authenticated, but this principal or token scope may not do this.",
    "404": "No such object, or not one this principal may see.",
    "429": "Over the request budget of this token (or person); retry after the `Retry-After` seconds.",
}


def problem_responses_hook(result, generator, request, public):
    """drf-spectacular post-processing: every operation documents the problem responses it can give."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "429"] + (["404"] if "{" in path else [])
            for code in codes:
                responses.setdefault(code, {"description": _ERRORS[code], "content": problem})
    return result


@csrf_exempt  # it changes nothing; a POST to a mistyped path should get the API's 404, not the CSRF page
def api_not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer as the API does: a problem document, not the portal's HTML page."""
    from django.http import JsonResponse

    body = {"type": "about:blank", "title": "Not Found", "status": 404, "code": "not_found",
            "detail": f"No API endpoint at {request.path}. See /api/docs/."}  # fmt: skip
    return JsonResponse(body, status=404, content_type="application/problem+json")
