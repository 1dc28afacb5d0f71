"""Git sync reads for pages (its own and other apps') and the API: permission-scoped, a fixed number of queries."""

from django.db.models import JSONField, OuterRef, Subquery

from apps.core import keyset
from apps.core.filters import filtered

from .filters import GitRepositoryFilter
from .models import GitRepository, SyncRun, SyncStatus


def git_repositories_visible(*, user):
    """The repositories `user` may see, by name, with their team (each row of a list shows it)."""
    return GitRepository.objects.restrict(user).select_related("team").order_by("name", "pk")


def git_repository_list(*, user, data=None):
    """The repositories `user` may see, filtered by `data` (GitRepositoryFilter's fields), by name: what the page
    and the API list. Raises ValidationError naming each filter whose value is bad."""
    return filtered(GitRepositoryFilter, git_repositories_visible(user=user), data)


def git_repository_page(*, user, data=None, cursor: str | None = None, per_page: int = 25) -> keyset.Page:
    """One keyset page of git_repository_list(), by the unique name: page 1,000 costs what page 1 does, and the
    count stops at 1,000."""
    repositories = git_repository_list(user=user, data=data)
    return keyset.paginate(repositories, keys=("name", "pk"), cursor=cursor, per_page=per_page)


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
