"""Git sync reads for other apps' pages: permission-scoped, a fixed number of queries."""

from django.db.models import JSONField, OuterRef, Subquery

from .models import GitRepository, SyncRun, SyncStatus


def repositories_failing(*, user):
    """Enabled repositories `user` may see whose last sync failed, each with `last_errors`: the errors of its latest
    failed run (one query, whatever the number of repositories or runs)."""
    failed = SyncRun.objects.filter(repository=OuterRef("pk"), status=SyncStatus.FAILED)
    latest = failed.order_by("-started_at", "-pk").values("errors")[:1]
    return (
        GitRepository.objects.restrict(user)
        .filter(enabled=True, last_sync_status=SyncStatus.FAILED)
        .select_related("team")
        .annotate(last_errors=Subquery(latest, output_field=JSONField()))
        .order_by("-last_synced_at", "name")
    )
