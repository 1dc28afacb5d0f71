"""Query filters of GET /api/v1/deployment-requests/: by slug and username, the way the CLI names things."""

import django_filters

from ..models import DeploymentRequest, RequestState


class DeploymentRequestFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=RequestState.choices, help_text="One or more states: ?state=pending&state=draft"
    )
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    model = django_filters.CharFilter(field_name="version__model__slug", help_text="Registered model slug.")
    version = django_filters.CharFilter(field_name="version__version", help_text="Version label, e.g. 1.4.0.")
    requester = django_filters.CharFilter(field_name="requester__username", help_text="Requester's username.")
    mine = django_filters.BooleanFilter(method="filter_mine", help_text="true: only requests you made.")

    class Meta:
        model = DeploymentRequest
        fields = ["state", "environment", "model", "version", "requester", "mine"]

    def filter_mine(self, queryset, name, value):
        if value is None:
            return queryset
        user = self.request.user
        return queryset.filter(requester=user) if value else queryset.exclude(requester=user)
