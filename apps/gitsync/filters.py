"""The repository list's one FilterSet: the page (/repositories/) and the API (GET /api/v1/repositories/) both filter
through it, inside selectors.git_repository_list."""

import django_filters

from apps.core.filters import WordSearch

from .models import GitRepository, SyncStatus


class GitRepositoryFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug, e.g. credit-risk.")
    status = django_filters.ChoiceFilter(field_name="last_sync_status", choices=SyncStatus.choices)
    enabled = django_filters.BooleanFilter()
    search = WordSearch(fields=("name", "url"), help_text="Words (any case), each in the name or the URL.")

    class Meta:
        model = GitRepository
        fields = ["team", "status", "enabled", "search"]
