"""The model list's search: one LIKE on the stored, upper-cased name and description (RegisteredModel.search_text),
which must find exactly what `icontains` on each column finds, and follow every change."""

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from apps.audit.actors import Actor
from apps.inventory import services
from apps.inventory.models import SEARCH_SEPARATOR, RegisteredModel


def register(cast, name, description="", tags=()):
    return services.registered_model_register(
        actor=Actor.of(cast.dana), team=cast.team_a, name=name, risk_tier="low", description=description, tags=tags
    )


def found(client, term):
    response = client.get("/models/", {"q": term})
    assert response.status_code == 200
    return sorted(model.name for model in response.context["page"])


def column_by_column(term, user=None):
    """The definition the stored column stands in for: the name or the description contains the term, in any case
    (the database's own `icontains`), or a tag is the term; among the models `user` may see, if given."""
    term = term.strip()
    matches = Q(name__icontains=term) | Q(description__icontains=term) | Q(tag_names__contains=f" {term.lower()} ")
    models = RegisteredModel.objects.restrict(user) if user else RegisteredModel.objects.all()
    return sorted(models.filter(matches).values_list("name", flat=True))


@pytest.fixture
def shelf(cast, client):
    register(cast, "Straße Pricing", "Half of 50% uplift; a_b test of the route\\path.")
    register(cast, "Été Forecast", "Summer DEMAND in Île-de-France.", tags=["seasonal"])
    register(cast, "Underscore_Model", "Plain text.")
    register(cast, "Percent Model", "Scores 100 percent of applicants.")
    client.force_login(cast.admin)
    return client


@pytest.mark.parametrize(
    "term",
    ["pricing", "PRICING", "straße", "STRASSE", "été", "ÉTÉ", "île", "50%", "%", "_", "a_b", "e_m", "\\", "\\path",
     "demand", "seasonal", "season", "half of", "  uplift  ", "'", "nothing-like-this"],
)  # fmt: skip
def test_search_finds_what_icontains_finds_on_the_name_or_the_description(shelf, term):
    expected = column_by_column(term)

    assert found(shelf, term) == expected


def test_search_finds_both_columns_and_a_whole_tag(shelf):
    assert found(shelf, "pricing") == ["Straße Pricing"]  # the name
    assert found(shelf, "summer demand") == ["Été Forecast"]  # the description, in another case
    assert found(shelf, "50%") == ["Straße Pricing"]  # a LIKE wildcard is a character here
    assert found(shelf, "_") == ["Straße Pricing", "Underscore_Model"]
    assert found(shelf, "seasonal") == ["Été Forecast"]  # a whole tag


def test_a_term_across_lines_never_matches_across_the_name_and_the_description(cast, client):
    register(cast, "Alpha E", "North region.")
    client.force_login(cast.admin)
    stored = RegisteredModel.objects.get(name="Alpha E").search_text
    assert f"E{SEARCH_SEPARATOR}N" in stored  # the stored text does join them there...

    assert found(client, f"e{SEARCH_SEPARATOR}n") == []  # ... but neither column holds the term
    register(cast, "Beta", f"Line one{SEARCH_SEPARATOR}north line two.")
    assert found(client, f"one{SEARCH_SEPARATOR}NORTH") == ["Beta"]  # one column does


def test_the_search_follows_every_change_to_the_name_and_the_description(cast, models, client):
    client.force_login(cast.dana)
    assert found(client, "behavioural") == []

    services.registered_model_update(
        actor=Actor.of(cast.dana), model=models.scorecard, description="A behavioural scorecard."
    )
    assert found(client, "behavioural") == ["Retail Scorecard"]

    services.registered_model_update(actor=Actor.of(cast.dana), model=models.scorecard, description="Replaced.")
    assert found(client, "behavioural") == []
    assert found(client, "replaced") == ["Retail Scorecard"]
    stored = RegisteredModel.objects.get(pk=models.scorecard.pk).search_text
    assert stored == f"RETAIL SCORECARD{SEARCH_SEPARATOR}REPLACED."


def test_the_search_reads_the_stored_column_not_each_column_upper_cased(cast, models, client):
    client.force_login(cast.dana)
    with CaptureQueriesContext(connection) as queries:
        assert found(client, "scorecard") == ["Retail Scorecard"]
    searched = [query["sql"] for query in queries.captured_queries if "search_text" in query["sql"]]

    assert len(searched) == 2  # the page's rows and their capped count
    for sql in searched:
        assert "UPPER(" in sql  # the term, upper-cased by the database as icontains does ...
        assert 'UPPER("inventory_registeredmodel"."description"' not in sql  # ... not each row's columns
        assert 'UPPER("inventory_registeredmodel"."name"' not in sql


@pytest.mark.parametrize("where", ["/models/?q=", "/api/v1/models/?search="])
def test_a_search_holding_a_nul_or_longer_than_any_filter_is_refused_with_a_reason(cast, models, client, where):
    client.force_login(cast.dana)
    before = list(RegisteredModel.objects.order_by("pk").values_list("pk", "search_text"))

    nul = client.get(f"{where}card%00")
    huge = client.get(where + "a" * 1_001)

    assert (nul.status_code, huge.status_code) == (400, 400)
    assert "NUL" in nul.content.decode()
    assert "1,000" in huge.content.decode() or "1000" in huge.content.decode()
    assert list(RegisteredModel.objects.order_by("pk").values_list("pk", "search_text")) == before


@pytest.mark.parametrize("term", ["\x07", "\x1f", "card\x1b[0m", "\u2028", "\ufeff"])
def test_a_search_holding_control_characters_finds_what_icontains_finds_and_no_error(cast, models, client, term):
    register(cast, f"Bell{term.strip()}Model", "Plain.")
    client.force_login(cast.dana)

    api = client.get("/api/v1/models/", {"search": term})

    assert found(client, term) == column_by_column(term, cast.dana)
    assert api.status_code == 200
    assert sorted(row["name"] for row in api.json()["results"]) == column_by_column(term, cast.dana)
