"""The model list's one FilterSet: the page (/models/) and the API (GET /api/v1/models/) both filter through it,
inside selectors.registered_model_list, so the queries that keep the list fast at a million versions live here.

Every filter is a condition on the model row or a `pk IN (…)` subquery: no join that repeats a row, so the list
needs no DISTINCT and a keyset page can walk an index in the sort's order.
"""

import django_filters
from django.db.models import Q, Value
from django.db.models.functions import Lower, Upper

from .models import SEARCH_SEPARATOR, Lifecycle, RegisteredModel, RiskTier, risk_rank_desc

# Sort → (keys, descending) for apps.core.keyset: all keys run one way, the last ones identify a row.
# By name without regard to case ("Account" before "AML"), as a reader expects; the exact name breaks ties.
ORDERINGS = {
    "name": (("name_lower", "name"), False),
    "-name": (("name_lower", "name"), True),
    "updated_at": (("updated_at", "pk"), False),
    "-updated_at": (("updated_at", "pk"), True),
    # `-risk` (highest first) reads names A to Z; `risk` is its exact reverse, so lowest first reads them Z to A.
    "-risk": (("risk_key", "name_lower", "name"), False),
    "risk": (("risk_key", "name_lower", "name"), True),
}


def _tag_holders(tag: str):
    """Ids of the models tagged `tag` (tags are stored lower-case; the unique index on the name finds it)."""
    through = RegisteredModel.tags.through.objects
    return through.filter(tag__name=tag.strip().lower()).order_by().values("registeredmodel_id")


class RegisteredModelFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug, e.g. credit-risk.")
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    lifecycle_status = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    tag = django_filters.CharFilter(method="filter_tag", help_text="A tag, e.g. credit (any case).")
    search = django_filters.CharFilter(
        method="filter_search", help_text="Part of the name or description (any case), or a whole tag."
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(value, value) for value in ORDERINGS], method="keep", empty_label=None,
        help_text="Sort order; `-` reverses it. `risk` is lowest first.",
    )  # fmt: skip

    class Meta:
        model = RegisteredModel
        fields = ["team", "risk_tier", "lifecycle_status", "tag", "search", "ordering"]

    def filter_tag(self, queryset, name, value):
        return queryset.filter(pk__in=_tag_holders(value))

    def filter_search(self, queryset, name, value):
        # Conditions on the row only, no join: PostgreSQL either walks the sort's index and stops after a page
        # of matches, or ORs the pg_trgm indexes on search_text and tag_names (migrations 0008, 0006) for a rare
        # term; both far cheaper than a UNION of lookups, which planned a 500 ms nested loop at 10k models.
        # The name and the description are one stored column, upper-cased once when written (search_text): one LIKE a
        # row where UPPER() and LIKE on each column made a common term's capped count read its rows three times as
        # slowly. The term is upper-cased by the database, as `icontains` does, so both sides fold case alike.
        value = value.strip()
        whole_tag = f" {value.lower()} "
        if SEARCH_SEPARATOR in value:  # it would match across the name's end and the description's start
            text = Q(name__icontains=value) | Q(description__icontains=value)
        else:
            text = Q(search_text__contains=Upper(Value(value)))
        return queryset.filter(text | Q(tag_names__contains=whole_tag))

    def keep(self, queryset, name, value):
        return queryset  # the keyset pager orders the rows: see sort()

    def sort(self) -> tuple[tuple[str, ...], bool]:
        """(keys, descending) of the chosen order, for apps.core.keyset.paginate."""
        return ORDERINGS[self.form.cleaned_data.get("ordering") or "name"]

    @property
    def qs(self):
        return super().qs.annotate(name_lower=Lower("name"), risk_key=risk_rank_desc())
