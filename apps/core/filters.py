"""Filters the lists' FilterSets share (each list has one FilterSet, used by its page and its API alike)."""

import operator
from functools import reduce

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework.filters import search_smart_split


class WordSearch(django_filters.CharFilter):
    """`search=`: every word found, in any case, in one of `fields`. Words are split as DRF's SearchFilter splits
    them (spaces and commas; quotes keep a phrase), which the API used before its lists had one FilterSet each, so
    a client's `search=acme credit` finds what it found before."""

    def __init__(self, *, fields: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.search_fields = fields

    def filter(self, qs, value):
        words = search_smart_split(value or "")
        if not words:
            return qs
        conditions = [reduce(operator.or_, (Q(**{f"{name}__icontains": word}) for name in self.search_fields))
                      for word in words]  # fmt: skip
        return qs.filter(reduce(operator.and_, conditions))


def filtered(filterset_class, queryset, data, **kwargs):
    """`queryset` filtered by `data` through a list's FilterSet (`kwargs` go to it); the queryset as it is when `data`
    filters by nothing (building the FilterSet, a deep copy of its filters and a form, would change nothing).
    Raises ValidationError naming each filter whose value is bad."""
    if not any(data.values() if data else ()):
        return queryset
    filters = filterset_class(data, queryset=queryset, **kwargs)
    if not filters.is_valid():
        raise ValidationError({name: list(messages) for name, messages in filters.errors.items()})
    return filters.qs
