from django.utils.functional import SimpleLazyObject

from . import permissions


def roles(request):
    """The signed-in user's roles, computed only if a template uses them."""
    user = getattr(request, "user", None)
    return {
        "user_roles": SimpleLazyObject(lambda: permissions.role_summary(user)),
        "can_view_audit": SimpleLazyObject(lambda: permissions.can_view_audit(user)),
    }
