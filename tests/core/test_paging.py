"""apps.core.paging: the same page as Django's Paginator.get_page() for every number asked, in fewer queries: no
COUNT(*) when the list fits on its first page or when the caller gives the count."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Team
from apps.core import paging

NUMBERS = [None, "", "1", "2", "3", "4", "0", "-1", "x", "1.5", "99"]


def make_teams(count):
    Team.objects.bulk_create(Team(name=f"Team {n:02d}", slug=f"t{n}") for n in range(count))
    return Team.objects.order_by("name")


def shown(page):
    return [team.name for team in page], page.number, page.paginator.count, page.paginator.num_pages, page.has_next()


@pytest.mark.django_db
@pytest.mark.parametrize("size", [0, 3, 5, 6, 12])
@pytest.mark.parametrize("number", NUMBERS)
def test_every_number_shows_the_page_django_shows(size, number):
    teams = make_teams(size)
    expected = shown(Paginator(teams, 5).get_page(number))

    assert shown(paging.get_page(teams, per_page=5, number=number)) == expected
    assert shown(paging.get_page(teams, per_page=5, number=number, count=size)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("number", [None, "1", "0", "x"])
def test_a_list_that_fits_on_its_first_page_is_read_in_one_query_and_not_counted(number):
    teams = make_teams(5)

    with CaptureQueriesContext(connection) as queries:
        page = paging.get_page(teams, per_page=5, number=number)
        shown(page)

    assert len(queries) == 1 and "COUNT" not in queries[0]["sql"]
    assert (page.number, page.paginator.count, len(page)) == (1, 5, 5)


@pytest.mark.django_db
def test_a_longer_list_costs_its_page_and_one_count_as_before():
    teams = make_teams(12)

    with CaptureQueriesContext(connection) as first:
        shown(paging.get_page(teams, per_page=5, number="1"))
    with CaptureQueriesContext(connection) as second:
        shown(paging.get_page(teams, per_page=5, number="2"))

    assert len(first) == len(second) == 2


@pytest.mark.django_db
def test_a_given_count_is_trusted_and_not_recounted():
    teams = make_teams(12)

    with CaptureQueriesContext(connection) as queries:
        page = paging.get_page(teams, per_page=5, number="3", count=12)
        shown(page)

    assert len(queries) == 1 and "COUNT" not in queries[0]["sql"]
    assert [team.name for team in page] == ["Team 10", "Team 11"]


@pytest.mark.django_db
def test_a_given_count_behind_the_rows_is_recounted_and_hides_no_row():
    teams = make_teams(12)

    page = paging.get_page(teams, per_page=5, number="1", count=2)

    assert [team.name for team in page] == [f"Team {n:02d}" for n in range(5)]
    assert (page.paginator.count, page.paginator.num_pages, page.has_next()) == (12, 3, True)
