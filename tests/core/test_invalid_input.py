"""Input no page can use is a 400 that says what is wrong, before any view runs: never a 500, never written.

A NUL character anywhere (query, form, JSON body, path), a query string or form body that is not UTF-8, and names or
values longer than anything the portal takes. Pages answer with the portal's 400 page, the API with a problem.
"""

import html

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core import inputs
from apps.inventory.models import ModelVersion, RegisteredModel
from tests.api.conftest import assert_problem
from tests.conftest import DIGEST

VERSIONS = "/models/retail-scorecard/versions/"


def reason(response) -> str:
    """The message on the portal's 400 page (inside its layout, with the navigation)."""
    text = html.unescape(response.content.decode())
    assert response.status_code == 400, text
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Bad request</h1>" in text and 'id="nav"' in text
    return text.split('id="error-reason">', 1)[1].split("</p>", 1)[0]


@pytest.fixture
def dana(client, cast, models):
    client.force_login(cast.dana)
    return client


@pytest.fixture
def api_dana(cast, models):
    client = APIClient()
    client.force_login(cast.dana)
    return client


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=%00", "q contains a NUL character."),
        ("q=a%00b&team=1", "q contains a NUL character."),
        ("q=%ff%fe", "The query string is not valid UTF-8."),
        ("%c3=1", "The query string is not valid UTF-8."),
        (f"q={'x' * 1001}", "q is longer than 1,000 characters."),
        (f"{'k' * 101}=1", "A parameter name is longer than 100 characters."),
        ("%00=1", "A parameter name contains a NUL character."),
    ],
    ids=["nul", "nul-among-others", "not-utf8", "truncated-utf8", "overlong-value", "overlong-name", "nul-name"],
)
def test_a_page_refuses_bad_query_input_with_its_400_page(dana, query, message):
    assert reason(dana.get(f"/models/?{query}")) == message


@pytest.mark.parametrize("query", ["q=Z%C3%BCrich", "q=Zürich", f"q={'x' * 1000}", "q=a+b&risk=", "&&q"])
def test_valid_utf8_and_values_up_to_the_limit_are_served(dana, query):
    assert dana.get(f"/models/?{query}").status_code == 200


def test_a_nul_in_a_path_is_refused(dana):
    assert reason(dana.get(f"{VERSIONS}1.0.0%00/")) == "The address contains a NUL character."


def test_the_api_answers_with_an_invalid_input_problem(dana):
    body = assert_problem(dana.get("/api/v1/audit/events/?actor=%00"), 400, "invalid_input")
    assert body["detail"] == "actor contains a NUL character."
    assert body["errors"] == {"actor": ["actor contains a NUL character."]}
    body = assert_problem(dana.get("/api/v1/models/?search=%ff"), 400, "invalid_input")
    assert body["errors"] == {"__all__": ["The query string is not valid UTF-8."]}
    assert_problem(dana.get(f"/api/v1/models/?search={'x' * 1001}"), 400, "invalid_input")
    assert_problem(dana.get("/api/v1/models/retail-scorecard/versions/%00/"), 400, "invalid_input")


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "Nul\x00model", "team": "credit-risk", "risk_tier": "low"},
        {"name": "Nested", "team": "credit-risk", "risk_tier": "low", "tags": ["ok", "n\x00"]},
        {"name\x00": "Key", "team": "credit-risk", "risk_tier": "low"},
    ],
    ids=["value", "nested", "key"],
)
def test_a_nul_in_a_json_body_is_refused_and_nothing_is_written(api_dana, payload):
    client = api_dana
    before = (RegisteredModel.objects.count(), AuditEvent.objects.count())
    body = assert_problem(client.post("/api/v1/models/", payload, format="json"), 400, "invalid_input")
    assert body["errors"] == {"body": ["The body contains a NUL character (\\u0000)."]}
    assert (RegisteredModel.objects.count(), AuditEvent.objects.count()) == before


def test_a_json_body_that_merely_mentions_backslash_u0000_is_accepted(api_dana):
    client = api_dana
    response = client.post("/api/v1/models/", {"name": "Escaped", "team": "credit-risk", "risk_tier": "low",
                                               "description": "a literal \\u0000 in text"}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert RegisteredModel.objects.get(name="Escaped").description == "a literal \\u0000 in text"


def test_a_form_with_a_nul_is_refused_and_nothing_is_written(dana):
    before = (ModelVersion.objects.count(), AuditEvent.objects.count())
    data = {"version": "2.0.0", "artifact_digest": DIGEST, "model_card": "# Card\x00"}
    assert reason(dana.post(f"{VERSIONS}new/", data)) == "model_card contains a NUL character."
    assert (ModelVersion.objects.count(), AuditEvent.objects.count()) == before


def test_a_form_body_that_is_not_utf8_is_refused(dana):
    response = dana.post(f"{VERSIONS}new/", b"version=2.0.0&model_card=%ff%fe",
                         content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert reason(response) == "The form data is not valid UTF-8."
    assert not ModelVersion.objects.filter(version="2.0.0").exists()


def test_a_multipart_form_with_a_nul_is_refused(dana):
    response = dana.post(f"{VERSIONS}new/", {"version": "2.0.0", "notes": "a\x00"})  # the test client sends multipart
    assert reason(response) == "notes contains a NUL character."


def test_form_values_up_to_the_form_limit_reach_the_form(dana):
    card = "x" * (inputs.MAX_FORM_VALUE + 1)
    assert reason(dana.post(f"{VERSIONS}new/", {"version": "2.0.0", "model_card": card})).startswith("model_card is")
    response = dana.post(f"{VERSIONS}new/", {"version": "2.0.0", "model_card": "x" * 100_001})
    assert response.status_code == 200  # the form's own limit, shown on the form
    assert "at most 100000 characters" in html.unescape(response.content.decode()).replace(",", "")


@pytest.mark.parametrize("parameters", [r'{"a\u0000": 1}', r'{"depth": "\u0000"}'], ids=["key", "value"])
def test_a_json_form_field_holding_a_nul_escape_is_a_form_error(dana, parameters):
    data = {"version": "2.0.0", "artifact_digest": DIGEST, "parameters": parameters}
    response = dana.post(f"{VERSIONS}new/", data)
    assert response.status_code == 200
    assert "JSON may not contain a NUL character (\\u0000)." in html.unescape(response.content.decode())
    assert not ModelVersion.objects.filter(version="2.0.0").exists()


def test_anonymous_visitors_get_the_400_page_too():
    response = Client().get("/accounts/login/?next=%00")
    assert response.status_code == 400
    assert "next contains a NUL character." in response.content.decode()


def test_a_policys_thresholds_holding_a_nul_escape_are_a_form_error(db):
    from apps.approvals.forms import PolicyForm

    form = PolicyForm({"name": "P", "expiry_days": 14,
                       "metric_thresholds": r'[{"metric": "auc\u0000", "op": ">=", "value": 0.8}]'})  # fmt: skip
    assert not form.is_valid()
    assert form.errors["metric_thresholds"] == ["JSON may not contain a NUL character (\\u0000)."]


@pytest.mark.parametrize("year", ["9999", "9" * 30, "0"])
def test_the_admins_date_drill_down_refuses_a_year_out_of_range_like_any_bad_filter(client, cast, year):
    client.force_login(cast.admin)
    response = client.get(f"/admin/audit/auditevent/?timestamp__year={year}")
    assert (response.status_code, response["Location"]) == (302, "/admin/audit/auditevent/?e=1")
    assert client.get("/admin/audit/auditevent/?timestamp__year=2026&timestamp__month=2").status_code == 200
