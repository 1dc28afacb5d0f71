from . import request_context


class RequestContextMiddleware:
    """Give each request an id (a valid incoming X-Request-ID is kept) and bind the audit context."""

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
        token = request_context.activate(context)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            request_context.deactivate(token)
        response["X-Request-ID"] = request_id
        return response
