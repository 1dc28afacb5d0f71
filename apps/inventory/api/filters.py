"""Query parameters of the API lists: `?ordering=` documented with its values, and the model list's filters
documented from the FilterSet its selector applies (apps/inventory/filters.py)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter


class DocumentedFilters(DjangoFilterBackend):
    """Documents the view's `filterset_class` in the schema, but filters nothing: the view's selector already
    applied the same FilterSet (one filter per list, shared by the page and the API)."""

    def filter_queryset(self, request, queryset, view):
        return queryset


def ordering_parameter(*fields):
    """`?ordering=` documented with its values (DRF's filter describes it only as a string)."""
    values = [value for field in fields for value in (field, f"-{field}")]
    return OpenApiParameter("ordering", str, enum=values, description="Sort order; `-` reverses it.")
