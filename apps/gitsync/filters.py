"""The repository list's one FilterSet: the page (/repositories/) and the API (GET /api/v1/repositories/) both filter
through it, inside selectors.git_repository_list."""

import operator
from functools import reduce

import django_filters
from django.db.models import Q
from rest_framework.filters import search_smart_split

from .models import GitRepository, SyncStatus


class GitRepositoryFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug, e.g. credit-risk.")
    status = django_filters.ChoiceFilter(field_name="last_sync_status", choices=SyncStatus.choices)
    enabled = django_filters.BooleanFilter()
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words (any case) each found in the name or the URL, e.g. acme/credit."
    )

    class Meta:
        model = GitRepository
        fields = ["team", "status", "enabled", "search"]

    def filter_search(self, queryset, name, value):
        # The words as DRF's SearchFilter split them (which the API used before this FilterSet), so a client's
        # `search=acme credit` still finds the same repositories: every word, each in the name or the URL.
        words = [Q(name__icontains=word) | Q(url__icontains=word) for word in search_smart_split(value)]
        return queryset.filter(reduce(operator.and_, words)) if words else queryset
