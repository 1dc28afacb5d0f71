from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters

# The date drill-down's year, month and day: Django refuses non-numbers, but a year past 9998 (or one too large for a
# C int) fails while it builds the range, a 500. Anything else than these is answered as any bad filter (`?e=1`).
_DATE_PARTS = {"year": (1, 9998), "month": (1, 12), "day": (1, 31)}


class GovernedReadOnlyAdmin(admin.ModelAdmin):
    """Governed rows are changed in the portal, where every change is audited; the admin only shows them."""

    def get_changelist_instance(self, request):
        for part, (low, high) in _DATE_PARTS.items() if self.date_hierarchy else ():
            value = request.GET.get(f"{self.date_hierarchy}__{part}")
            if value is not None and not (value.isascii() and value.isdigit() and low <= int(value) <= high):
                raise IncorrectLookupParameters(f"{part} {value!r} is out of range")
        return super().get_changelist_instance(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
