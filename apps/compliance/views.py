from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from apps.accounts import permissions
from apps.audit import hashing, links, selectors
from apps.core import keyset

from . import pickers, sentences
from .exports.filters import AuditFilterForm

PAGE_SIZE = 25  # like /models/: each row is a sentence and a changes table, and rendering is most of a page's time
OLD_PAGE_LINK = (
    "Pages are turned with Next and Previous now; that link's page number no longer applies: the newest events."
)


def _require_audit_reader(user) -> None:
    if not permissions.can_view_audit(user):
        raise PermissionDenied("The audit trail is open to auditors and team admins.")


@login_required
def event_list(request, params=None):
    _require_audit_reader(request.user)
    params = request.GET if params is None else params
    form = AuditFilterForm(params, user=request.user, choices=True)
    status = 200
    try:
        filters = form.filters()
    except ValidationError:  # the form shows each error on its field
        filters, status = None, 400
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        filters, status = None, 403
    if filters is None:
        page = keyset.Page([], None, None, 0, False)
    else:
        events = selectors.as_table_rows(selectors.audit_event_list(user=request.user, **filters.selector_kwargs()))
        page = keyset.paginate(events, keys=("sequence",), cursor=params.get("cursor"), per_page=PAGE_SIZE,
                               descending=True)  # fmt: skip
        if not page.error and params.get("page", "1") != "1" and not params.get("cursor"):
            page.error = OLD_PAGE_LINK
    page.rows = sentences.describe(links.attach_target_urls(page.rows))
    context = {"form": form, "page": page, "can_export": permissions.may_export_audit(request.user),
               "export_params": _export_params(form, filters)}  # fmt: skip
    return render(request, "compliance/event_list.html", context, status=status)


def _export_params(form, filters) -> dict:
    """The export form's hidden filters: model and version by the names the pickers show, as a person would type
    them (a version id beside a model could otherwise read as a version named like that number)."""
    if filters is None:
        return {}
    params = filters.as_dict()
    if "version" in params:
        params["model"] = form.data.get("model") or params.get("model")
    for key in ("model", "version"):
        if params.get(key) is not None:
            params[key] = form.data.get(key) or params[key]
    return params


@login_required
def event_detail(request, sequence):
    _require_audit_reader(request.user)
    event = get_object_or_404(selectors.audit_event_list(user=request.user), sequence=sequence)
    sentences.describe(links.attach_target_urls([event]))
    context = {"event": event, "context_rows": sentences.context_rows(event.context),
               "hashed_timestamp": hashing.format_timestamp(event.timestamp)}  # fmt: skip
    return render(request, "compliance/event_detail.html", context)


@login_required
@require_GET
def suggest(request):
    """GET /audit/suggest/?kind=model|version|actor&q=…[&model=…]: what the filter pickers offer as you type (JSON)."""
    if not permissions.can_view_audit(request.user):
        return JsonResponse({"error": "The audit trail is open to auditors and team admins."}, status=403)
    unknown = sorted(set(request.GET) - {"kind", "q", "model"})
    kind, query = request.GET.get("kind", ""), request.GET.get("q", "").strip()
    if unknown:
        return _refuse(f"Unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. Use kind, q, model.")
    if kind not in pickers.KINDS:
        return _refuse(f"kind must be one of {', '.join(pickers.KINDS)}, not {kind!r}.")
    if len(query) > pickers.MAX_QUERY:
        return _refuse(f"q is at most {pickers.MAX_QUERY} characters.")
    if kind == "model":
        return JsonResponse({"results": pickers.suggest_models(request.user, query)})
    if kind == "actor":
        return JsonResponse({"results": pickers.suggest_actors(request.user, query)})
    model_text = request.GET.get("model", "").strip()
    if not model_text:
        return _refuse("Choose the model first: versions are suggested under a model (model=name, slug or id).")
    model = pickers.find_model(request.user, model_text[: pickers.MAX_QUERY])
    if model is None:
        return _refuse(f"No model {model_text!r} that you may see.")
    return JsonResponse({"results": pickers.suggest_versions(request.user, model, query)})


def _refuse(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)
