from django.core.exceptions import RequestDataTooBig
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from . import inputs, request_context


class RequestContextMiddleware:
    """Give each request an id (a valid incoming X-Request-ID is kept) and bind the audit context, with the
    request's memo (request_context.memo())."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID")
        request_id = incoming if request_context.valid_request_id(incoming) else request_context.new_request_id()
        source = "api" if request.path.startswith("/api/") else "web"
        if request.path.startswith("/hooks/"):
            source = "webhook"
        context = request_context.RequestContext(
            request_id=request_id,
            source=source,
            client_ip=request_context.client_ip(request.META),
            user_agent=(request.headers.get("User-Agent") or "")[:300] or None,
        )
        token = request_context.activate(context, with_memo=True)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            request_context.deactivate(token)
        response["X-Request-ID"] = request_id
        return response


class InvalidInputMiddleware:
    """Refuse input that no page or endpoint can use, before any view sees it, with a 400 that says what is wrong.

    A NUL character, a query string or form body that is not UTF-8, an overlong name or value (see inputs.py).
    Pages get the portal's 400 page; the API gets a problem with the code `invalid_input`. The limits are far above
    what any field takes, so a form or serializer still gives its own message for a value that is merely too long.
    """

    # Webhooks read their own body (up to GitHub's 25 MB, over Django's limit) and check its signature first.
    BODY_EXEMPT = ("/hooks/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            problem = self.problem(request)
        except RequestDataTooBig:  # the view answers it as it always has (the API: 413 payload_too_large)
            problem = None
        if problem is None:
            return self.get_response(request)
        where, message = problem
        if request.path_info.startswith("/api/"):
            from .api import problem_response  # DRF is imported only once a request needs it

            return problem_response(400, "invalid_input", message, {where: [message]})
        return render(request, "400.html", {"reason": message}, status=400)

    def problem(self, request) -> inputs.Problem:
        if "\x00" in request.path_info:
            return "path", "The address contains a NUL character."
        query = inputs.raw_bytes(request.META.get("QUERY_STRING", ""))
        problem = inputs.check_urlencoded(query, max_value=inputs.MAX_QUERY_VALUE, what="query string")
        if problem or request.method in ("GET", "HEAD", "OPTIONS") or request.path_info.startswith(self.BODY_EXEMPT):
            return problem
        if request.content_type == "application/x-www-form-urlencoded":
            return inputs.check_urlencoded(request.body, max_value=inputs.MAX_FORM_VALUE, what="form data")
        if request.content_type == "multipart/form-data":
            try:  # decoded by Django already (invalid UTF-8 is U+FFFD by now): NUL and lengths remain to check
                fields = [(name, value) for name, values in request.POST.lists() for value in values]
            except MultiPartParserError:
                return "body", "The form data could not be read."
            return inputs.check_fields(fields, max_value=inputs.MAX_FORM_VALUE)
        if request.content_type == "application/json":
            return inputs.check_json(request.body)
        return None
