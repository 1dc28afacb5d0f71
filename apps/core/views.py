from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers; 503 otherwise (for load balancers and monitors)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means unhealthy
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    """/favicon.ico, which browsers ask for whatever the page links: the static icon (hashed name in production)."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))
