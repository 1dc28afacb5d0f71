"""The target list's one FilterSet: the page (/deployments/targets/) and the API (GET /api/v1/deployments/targets/)
both filter through it, inside selectors.target_list.

The statuses (the drift matrix page against GET /api/v1/deployments/statuses/) keep their own: the page lists
models, each with a cell per environment, the API one status per model and environment; the same filter would
mean different things on each."""

import django_filters

from apps.core.filters import WordSearch

from .models import DeploymentTarget, TargetKind, TargetStatus


class DeploymentTargetFilter(django_filters.FilterSet):
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    team = django_filters.CharFilter(field_name="team__slug", help_text="Slug of the team operating it.")
    kind = django_filters.ChoiceFilter(choices=TargetKind.choices)
    last_status = django_filters.ChoiceFilter(choices=TargetStatus.choices)
    enabled = django_filters.BooleanFilter()
    search = WordSearch(fields=("name",), help_text="Words (any case), each in the name.")

    class Meta:
        model = DeploymentTarget
        fields = ["environment", "team", "kind", "last_status", "enabled", "search"]
