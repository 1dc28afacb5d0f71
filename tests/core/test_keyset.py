"""apps.core.keyset: pages by cursor walk a list without skipping or repeating a row, in both directions, in a
fixed number of queries wherever the page is; counts stop at the cap; a cursor it did not make is refused."""

import pytest
from django.db import connection
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Team
from apps.core import keyset


@pytest.fixture
def teams(db):
    names = [f"{'AaBb'[n % 4]}team {n:02d}" for n in range(23)]
    Team.objects.bulk_create(Team(name=name, slug=f"t{n}") for n, name in enumerate(names))
    return Team.objects.annotate(name_lower=Lower("name"))


def walk(queryset, per_page, **options):
    pages, cursor = [], None
    while True:
        page = keyset.paginate(queryset, cursor=cursor, per_page=per_page, **options)
        pages.append(page)
        if not page.has_next:
            return pages
        cursor = page.next_cursor


@pytest.mark.parametrize("descending", [False, True])
def test_forward_pages_hold_every_row_once_in_order_and_backward_pages_the_same(teams, descending):
    keys = ("name_lower", "name")
    expected = sorted(teams.values_list("name", flat=True), key=lambda n: (n.lower(), n), reverse=descending)

    pages = walk(teams, 5, keys=keys, descending=descending)

    assert [team.name for page in pages for team in page] == expected
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    back, cursor = [], pages[-1].previous_cursor
    while cursor:
        page = keyset.paginate(teams, keys=keys, descending=descending, cursor=cursor, per_page=5)
        back.insert(0, [team.name for team in page])
        cursor = page.previous_cursor
    assert back == [[team.name for team in page] for page in pages[:-1]]


def test_a_deep_page_costs_the_same_queries_as_the_first(teams):
    pages = walk(teams, 2, keys=("name_lower", "name"))
    with CaptureQueriesContext(connection) as first:
        keyset.paginate(teams, keys=("name_lower", "name"), per_page=2)
    with CaptureQueriesContext(connection) as deep:
        keyset.paginate(teams, keys=("name_lower", "name"), cursor=pages[-2].next_cursor, per_page=2)

    assert len(first) == len(deep) == 2
    assert "OFFSET" not in deep[0]["sql"].upper()


def test_the_count_stops_at_the_cap_and_says_so(teams):
    page = keyset.paginate(teams, keys=("pk",), per_page=5, cap=10)

    assert (page.count, page.count_capped, page.count_label) == (10, True, "10+")
    exact = keyset.paginate(teams, keys=("pk",), per_page=5, cap=100)
    assert (exact.count, exact.count_capped, exact.count_label) == (23, False, "23")


def test_a_datetime_key_survives_the_cursor(teams):
    pages = walk(Team.objects.all(), 4, keys=("created_at", "pk"), descending=True)

    assert sum(len(page) for page in pages) == 23
    assert len({team.pk for page in pages for team in page}) == 23


@pytest.mark.parametrize("cursor", ["garbage", "e30", "eyJkIjoibiIsInYiOlsxXX0", "eyJkIjoieCIsInYiOlsxLDJdfQ",
                                    "eyJkIjoibiIsInYiOltbMV0sMl19"])  # fmt: skip
def test_a_cursor_it_did_not_make_shows_the_first_page_with_a_reason(teams, cursor):
    page = keyset.paginate(teams, keys=("name_lower", "name"), cursor=cursor, per_page=5)

    assert page.error.endswith("showing the first page.")
    assert [t.name for t in page] == [t.name for t in keyset.paginate(teams, keys=("name_lower", "name"), per_page=5)]
