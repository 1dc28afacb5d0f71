from django.utils.functional import SimpleLazyObject

from . import selectors


def waiting(request):
    """The count of requests waiting for the signed-in user's decision: the badge in the navigation."""
    user = getattr(request, "user", None)
    return {"approvals_waiting": SimpleLazyObject(lambda: selectors.waiting_count(user=user) if user else 0)}
