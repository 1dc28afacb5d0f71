from django.contrib import admin


class GovernedReadOnlyAdmin(admin.ModelAdmin):
    """Governed rows are changed in the portal, where every change is audited; the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
