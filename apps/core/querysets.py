from django.db import models


class RestrictedQuerySet(models.QuerySet):
    """Base for every governed model's queryset: `restrict(user, action)` is the only way reads are scoped.

    Deny by default: anonymous and inactive users get nothing, superusers get
    everything, and everyone else gets what the model's `restrict_for()` grants.
    """

    def restrict(self, user, action: str = "view"):
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.restrict_for(user, action)

    def restrict_for(self, user, action: str):
        return self.none()
