from django.contrib import admin

from apps.core.admin_mixins import GovernedReadOnlyAdmin

from .models import AuditCheckpoint, AuditEvent, ChainHead


@admin.register(AuditEvent)
class AuditEventAdmin(GovernedReadOnlyAdmin):
    list_display = ("sequence", "timestamp", "actor_label", "actor_kind", "action", "target_label")
    list_filter = ("actor_kind", "action")
    search_fields = ("actor_label", "target_label", "action")
    date_hierarchy = "timestamp"

    def get_queryset(self, request):
        """What /audit/ would show this reader: their teams' trail, and security events only to portal auditors.
        A staff account given the model's view permission gets no wider view here than in the portal."""
        return super().get_queryset(request).restrict(request.user, "view")


@admin.register(ChainHead)
class ChainHeadAdmin(GovernedReadOnlyAdmin):
    list_display = ("sequence", "hash", "updated_at")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(GovernedReadOnlyAdmin):
    list_display = ("sequence", "head_hash", "created_at", "key_id")
    date_hierarchy = "created_at"
