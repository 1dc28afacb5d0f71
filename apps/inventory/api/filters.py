"""Query parameters of the model list: filters (django-filter) and the `risk` ordering."""

import django_filters
from rest_framework.filters import OrderingFilter

from ..models import Lifecycle, RegisteredModel, RiskTier


class RegisteredModelFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug, e.g. credit-risk.")
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    lifecycle_status = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    tag = django_filters.CharFilter(field_name="tags__name", lookup_expr="iexact", help_text="A tag, e.g. credit.")

    class Meta:
        model = RegisteredModel
        fields = ["team", "risk_tier", "lifecycle_status", "tag"]


class ModelOrderingFilter(OrderingFilter):
    """`?ordering=` over public names; `risk` sorts by tier (low < medium < high < critical), name breaks ties."""

    aliases = {"risk": "risk_rank"}

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        terms = [("-" if term.startswith("-") else "") + self.aliases.get(term.lstrip("-"), term.lstrip("-"))
                 for term in ordering]  # fmt: skip
        return terms if {"name", "-name"} & set(terms) else [*terms, "name"]
