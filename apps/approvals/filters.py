"""The deployment-request list's one FilterSet: the page (/approvals/requests/) and the API
(GET /api/v1/deployment-requests/) both filter through it, inside selectors.deployment_request_filter. Names are
slugs and usernames, the way the CLI names things."""

import django_filters
from django import forms

from .models import DeploymentRequest, RequestState


class IdFilter(django_filters.NumberFilter):
    """A database id: a whole number from 1 to a bigint's largest, else the field's error (never a query the
    database cannot take: SQLite refuses integers past 64 bits with an OverflowError)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=2**63 - 1, **kwargs)


class DeploymentRequestFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=RequestState.choices, help_text="One or more states: ?state=pending&state=draft"
    )
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    # Through the version, not the request's own model column: the rows show the version's model, so the filter shares
    # that join (by the request's column, PostgreSQL joined the model twice and planned the page ~1 ms longer).
    model = django_filters.CharFilter(field_name="version__model__slug", help_text="Registered model slug.")
    version = django_filters.CharFilter(field_name="version__version", help_text="Version label, e.g. 1.4.0.")
    version_id = IdFilter(field_name="version_id", help_text="The version's id (the portal's).")
    requester = django_filters.CharFilter(field_name="requester__username", help_text="Requester's username.")
    mine = django_filters.BooleanFilter(method="filter_mine", help_text="true: only requests you made.")

    class Meta:
        model = DeploymentRequest
        fields = ["state", "environment", "model", "version", "version_id", "requester", "mine"]

    def __init__(self, data=None, queryset=None, *, user=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.user = user if user is not None else getattr(self.request, "user", None)

    def filter_mine(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(requester=self.user) if value else queryset.exclude(requester=self.user)
