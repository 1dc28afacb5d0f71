"""Inventory pages: finding models, reading them, and changing them through the browser forms."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services
from apps.inventory.models import ModelVersion, RegisteredModel
from apps.inventory.views import PAGE_SIZE
from tests.conftest import DIGEST

SCORECARD = "/models/retail-scorecard/"


def register(cast, name, **fields):
    fields = {"team": cast.team_a, "risk_tier": "low"} | fields
    return services.registered_model_register(actor=Actor.of(cast.dana), name=name, **fields)


def listed(client, query=""):
    response = client.get(f"/models/{query}")
    assert response.status_code == 200
    return [model.name for model in response.context["page"]]


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def dana(client, cast):
    client.force_login(cast.dana)
    return client


@pytest.fixture
def shelf(cast, models):
    """A few more team A models to search, filter and sort."""
    register(cast, "Churn Predictor", risk_tier="medium", tags=["retention"], description="Who leaves next month.")
    register(cast, "Affordability Check", risk_tier="critical", tags=["credit", "affordability"])
    register(cast, "Address Matcher", risk_tier="low")
    services.registered_model_set_lifecycle(
        actor=Actor.of(cast.dana), model=RegisteredModel.objects.get(name="Churn Predictor"), status="validation",
        reason="Ready.",
    )  # fmt: skip


# --- the list: search, filters, sorting, pages ----------------------------------------------------------------------


def test_the_list_is_sorted_by_name_by_default(cast, shelf, client):
    client.force_login(cast.admin)

    assert listed(client) == [
        "Address Matcher",
        "Affordability Check",
        "Card Fraud Detector",
        "Churn Predictor",
        "Retail Scorecard",
    ]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?q=score", ["Retail Scorecard"]),
        ("?q=SCORECARD", ["Retail Scorecard"]),
        ("?q=credit", ["Affordability Check", "Retail Scorecard"]),
        ("?q=Retention", ["Churn Predictor"]),
        ("?q=leaves+next", ["Churn Predictor"]),
        ("?q=nothing-like-this", []),
        ("?tag=credit", ["Affordability Check", "Retail Scorecard"]),
        ("?tag=affordability", ["Affordability Check"]),
        ("?team=credit-risk", ["Address Matcher", "Affordability Check", "Churn Predictor", "Retail Scorecard"]),
        ("?team=fraud", ["Card Fraud Detector"]),
        ("?risk=critical", ["Affordability Check", "Card Fraud Detector"]),
        ("?risk=low", ["Address Matcher"]),
        ("?status=validation", ["Churn Predictor"]),
        ("?status=production", []),
        ("?team=credit-risk&risk=critical", ["Affordability Check"]),
        ("?q=credit&tag=affordability", ["Affordability Check"]),
    ],
)
def test_the_list_searches_and_filters(cast, shelf, client, query, names):
    client.force_login(cast.admin)

    assert listed(client, query) == names


def test_search_lists_a_model_once_even_when_several_things_match(cast, models, client):
    services.registered_model_update(
        actor=Actor.of(cast.dana), model=models.scorecard, tags=["credit", "scorecard"], description="A scorecard."
    )
    client.force_login(cast.dana)

    assert listed(client, "?q=scorecard") == ["Retail Scorecard"]
    assert "1 model" in client.get("/models/?q=scorecard").text


def test_the_list_sorts_by_risk_highest_first(cast, shelf, client):
    client.force_login(cast.admin)

    assert listed(client, "?sort=risk") == [
        "Affordability Check",
        "Card Fraud Detector",
        "Retail Scorecard",
        "Churn Predictor",
        "Address Matcher",
    ]


def test_the_list_sorts_by_latest_update_including_new_versions(cast, shelf, models, client):
    services.model_version_create(actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0")
    client.force_login(cast.dana)

    names = listed(client, "?sort=updated")

    assert names[0] == "Retail Scorecard"
    assert names[1:] == ["Churn Predictor", "Address Matcher", "Affordability Check"]


def test_the_list_sorts_by_name_whatever_the_case(cast, models, client):
    for name in ("AML Screening", "Account Takeover", "aggregate exposure"):
        register(cast, name)
    client.force_login(cast.dana)

    assert listed(client) == ["Account Takeover", "aggregate exposure", "AML Screening", "Retail Scorecard"]
    assert listed(client, "?sort=-name") == [
        "Retail Scorecard",
        "AML Screening",
        "aggregate exposure",
        "Account Takeover",
    ]


def test_an_unknown_sort_falls_back_to_name(cast, shelf, client):
    client.force_login(cast.dana)

    assert listed(client, "?sort=drop table") == listed(client)


def next_link(response):
    """The Next link's query string, as the browser follows it."""
    match = re.search(r'rel="next" href="([^"]+)"', response.text)
    return match.group(1).replace("&amp;", "&") if match else None


def previous_link(response):
    match = re.search(r'rel="prev" href="([^"]+)"', response.text)
    return match.group(1).replace("&amp;", "&") if match else None


def test_the_list_pages_and_shows_the_total(cast, models, client):
    for number in range(PAGE_SIZE + 5):
        register(cast, f"Bulk Model {number:02d}")
    client.force_login(cast.dana)
    total = PAGE_SIZE + 6  # plus Retail Scorecard; Card Fraud Detector is team B's

    first = client.get("/models/")
    second = client.get(f"/models/{next_link(first)}")

    assert f"{total} models" in first.text
    assert len(first.context["page"]) == PAGE_SIZE
    assert len(second.context["page"]) == 6
    assert next_link(second) is None
    assert {m.name for m in first.context["page"]}.isdisjoint({m.name for m in second.context["page"]})
    back = client.get(f"/models/{previous_link(second)}")
    assert [m.name for m in back.context["page"]] == [m.name for m in first.context["page"]]
    assert previous_link(back) is None


@pytest.mark.parametrize("sort", ["name", "-name", "updated", "risk"])
def test_paging_through_every_sort_shows_each_model_once_in_the_order_of_one_long_page(cast, models, client, sort):
    tiers = ["low", "medium", "high", "critical"]
    for number in range(2 * PAGE_SIZE + 3):  # names in mixed case, so the case-blind order is tested across pages
        register(cast, f"{'aAbB'[number % 4]}-model {number:02d}", risk_tier=tiers[number % 4])
    client.force_login(cast.admin)

    shown, response = [], client.get(f"/models/?sort={sort}")
    while True:
        shown += [m.name for m in response.context["page"]]
        link = next_link(response)
        if link is None:
            break
        response = client.get(f"/models/{link}")

    everything = RegisteredModel.objects.all()
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    expected = {
        "name": sorted((m.name for m in everything), key=lambda name: (name.lower(), name)),
        "-name": sorted((m.name for m in everything), key=lambda name: (name.lower(), name), reverse=True),
        "updated": [m.name for m in sorted(everything, key=lambda m: (m.updated_at, m.pk), reverse=True)],
        "risk": [m.name for m in sorted(everything, key=lambda m: (rank[m.risk_tier], m.name.lower(), m.name))],
    }[sort]
    assert shown == expected


def test_the_next_page_link_keeps_the_filters(cast, models, client):
    for number in range(PAGE_SIZE + 1):
        register(cast, f"Bulk Model {number:02d}", risk_tier="medium")
    client.force_login(cast.dana)

    response = client.get("/models/?risk=medium")

    assert next_link(response).startswith("?risk=medium&cursor=")
    assert f"{PAGE_SIZE + 1} models" in response.text
    second = client.get(f"/models/{next_link(response)}")
    assert [m.name for m in second.context["page"]] == [f"Bulk Model {PAGE_SIZE:02d}"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJkIjoibiIsInYiOlsxXX0", "e30", "%%%"])
def test_a_broken_page_link_shows_the_first_page_and_says_why(cast, models, dana, cursor):
    response = dana.get(f"/models/?cursor={cursor}")

    assert response.status_code == 200
    assert [m.name for m in response.context["page"]] == ["Retail Scorecard"]
    assert "showing the first page" in response.text


def test_a_bad_filter_value_is_named_and_the_list_shows_without_it(cast, models, dana):
    response = dana.get("/models/?risk=extreme")

    assert response.status_code == 200
    assert any("extreme" in message for message in messages_of(response))
    assert [m.name for m in response.context["page"]] == ["Retail Scorecard"]


def test_the_total_is_capped_and_says_so(cast, models, dana, monkeypatch):
    from apps.core import keyset

    monkeypatch.setattr(keyset, "COUNT_CAP", 3)
    for number in range(4):
        register(cast, f"Bulk Model {number:02d}")

    response = dana.get("/models/")

    assert "3+ models" in response.text
    assert "Counted up to 3+" in response.text


def test_a_search_counts_its_matches_up_to_the_cap_on_the_page_and_in_the_api(cast, models, dana, monkeypatch):
    from apps.core import keyset

    monkeypatch.setattr(keyset, "COUNT_CAP", 2)
    for number in range(3):
        register(cast, f"Bulk Model {number:02d}")

    searched = dana.get("/models/?q=bulk")
    api = dana.get("/api/v1/models/?search=bulk").json()
    narrowed = dana.get("/models/?q=bulk+model+01")

    assert "2+ models" in searched.text and "Counted up to 2+" in searched.text
    assert [m.name for m in searched.context["page"]] == ["Bulk Model 00", "Bulk Model 01", "Bulk Model 02"]
    assert (api["count"], api["count_capped"], len(api["results"])) == (2, True, 3)
    assert "1 model" in narrowed.text and "Counted up to" not in narrowed.text  # under the cap: exact, no caveat


def test_the_list_shows_version_counts_and_tags(cast, models, dana):
    response = dana.get("/models/")

    [row] = response.context["page"]
    assert row.version_count == 2
    assert 'href="?tag=credit"' in response.text


def test_the_register_button_is_offered_only_to_those_who_may_register(cast, models, client):
    client.force_login(cast.vera)
    assert "Register a model" not in client.get("/models/").text
    client.force_login(cast.dana)
    assert "Register a model" in client.get("/models/").text
    # Everyone: shown exactly when some team takes their registration (the page answers from the roles it read).
    for name in ("dana", "rita", "sam", "bo", "audrey", "vera", "alice", "ben", "admin"):
        person = getattr(cast, name)
        client.force_login(person)
        may = Team.objects.restrict(person, permissions.REGISTER).exists()
        assert ("Register a model" in client.get("/models/").text) is may, name


# --- the model page -------------------------------------------------------------------------------------------------


def test_the_model_page_shows_versions_owners_validator_and_history(cast, models, client):
    client.force_login(cast.vera)

    response = client.get(SCORECARD)

    assert [v.version for v in response.context["versions"]] == ["1.1.0", "1.0.0"]
    assert f'href="{SCORECARD}versions/1.1.0/"' in response.text
    assert "Dana Tester" in response.text  # owner
    assert "<dt>Independent validator</dt><dd>Rita Tester</dd>" in response.text
    assert "auc 0.81" in response.text
    assert [event.action for event in response.context["history"]] == [
        "version.created",
        "version.created",
        "model.registered",
    ]
    assert "<code>model.registered</code>" in response.text
    assert "Validation overdue" not in response.text


def test_the_model_page_flags_an_overdue_validation(cast, models, client):
    services.registered_model_update(
        actor=Actor.of(cast.dana),
        model=models.scorecard,
        last_validated_on=timezone.localdate() - timedelta(days=400),
        next_validation_due=timezone.localdate() - timedelta(days=1),
    )
    client.force_login(cast.vera)

    response = client.get(SCORECARD)

    assert '<span class="badge text-bg-danger">Validation overdue</span>' in response.text
    assert "overdue</span>" in client.get("/models/").text


def test_a_validation_due_in_the_future_or_for_a_retired_model_is_not_overdue(cast, models, client):
    services.registered_model_update(
        actor=Actor.of(cast.dana), model=models.scorecard, next_validation_due=timezone.localdate() + timedelta(days=1)
    )
    services.registered_model_update(
        actor=Actor.of(cast.ben), model=models.detector, next_validation_due=timezone.localdate() - timedelta(days=1)
    )
    services.registered_model_set_lifecycle(
        actor=Actor.of(cast.ben), model=models.detector, status="retired", reason="Replaced."
    )
    client.force_login(cast.admin)

    assert "Validation overdue" not in client.get(SCORECARD).text
    assert "Validation overdue" not in client.get("/models/card-fraud-detector/").text


def test_the_history_links_to_the_audit_trail_only_for_audit_readers(cast, models, client):
    """Each event of the model's and the version's history links to its page in /audit/ for whoever may read it."""
    event_link = re.compile(r'<a href="/audit/(\d+)/">\1</a>')
    for page in (SCORECARD, f"{SCORECARD}versions/1.0.0/"):
        client.force_login(cast.vera)
        assert 'href="/audit/' not in client.get(page).text
        client.force_login(cast.audrey)
        assert event_link.search(client.get(page).text), page


# --- the version page and its model card ----------------------------------------------------------------------------

HOSTILE_CARD = """# Retail Scorecard 2.0

<script>alert(1)</script>

<img src="x" onerror="alert(2)">

[click me](javascript:alert(3))

| metric | value |
| ------ | ----- |
| auc    | 0.84  |
"""


def _model_card_html(response):
    return response.text.split('<div class="model-card mb-3">', 1)[1].split("<h2", 1)[0]


def test_the_model_card_renders_markdown_without_live_html(cast, models, client):
    services.model_version_create(
        actor=Actor.of(cast.dana), model=models.scorecard, version="2.0.0", model_card=HOSTILE_CARD
    )
    client.force_login(cast.vera)

    response = client.get(f"{SCORECARD}versions/2.0.0/")

    card = _model_card_html(response)
    assert "<h1>Retail Scorecard 2.0</h1>" in card
    assert "<table>" in card
    assert "<td>auc</td>" in card
    assert "<script" not in card
    assert "onerror" not in card
    assert "<img" not in card
    assert "javascript:" not in card
    # Anywhere else on the page (the version's history shows the card's text) it is escaped, never live.
    assert "<script>alert" not in response.text
    assert "<img" not in response.text
    assert 'onerror="' not in response.text


def test_the_version_page_shows_the_artifact_and_lineage(cast, models, client):
    v100 = models.scorecard.versions.get(version="1.0.0")
    services.model_version_update(
        actor=Actor.of(cast.dana), version=models.scorecard.versions.get(version="1.1.0"), parent=v100
    )
    client.force_login(cast.vera)

    child = client.get(f"{SCORECARD}versions/1.1.0/")
    parent = client.get(f"{SCORECARD}versions/1.0.0/")

    assert f'<dd class="digest" id="digest">{DIGEST}</dd>' in child.text
    assert f'href="{SCORECARD}versions/1.0.0/">Retail Scorecard 1.0.0</a>' in child.text
    assert f'href="{SCORECARD}versions/1.1.0/">Retail Scorecard 1.1.0</a>' in parent.text


# --- forms: bad input re-renders with the message and writes nothing ------------------------------------------------


def model_form_data(cast, **overrides):
    data = {
        "name": "Churn Predictor",
        "team": cast.team_a.pk,
        "risk_tier": "medium",
        "eu_ai_act_category": "limited",
        "owners": [cast.dana.pk],
        "validator": cast.sam.pk,
        "tags": "churn, Retention",
        "description": "",
        "intended_use": "",
        "limitations": "",
        "source_repository_url": "",
        "source_path": "",
        "last_validated_on": "",
        "next_validation_due": "",
    }
    return data | overrides


def test_registering_through_the_form_redirects_to_the_new_model(cast, models, dana, trail):
    response = dana.post("/models/new/", model_form_data(cast))

    assert response.status_code == 302
    assert response["Location"] == "/models/churn-predictor/"
    model = RegisteredModel.objects.get(name="Churn Predictor")
    assert (model.team, model.risk_tier, model.eu_ai_act_category, model.validator) == (
        cast.team_a,
        "medium",
        "limited",
        cast.sam,
    )
    assert trail.actions() == ["model.registered"]
    assert trail.events()[0].context["source"] == "web"
    assert "Registered Churn Predictor." in messages_of(dana.get(response["Location"]))


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            lambda cast: {"validator": cast.dana.pk},
            "validator",
            "The validator must be independent: pick someone who is not an owner.",
        ),
        (lambda cast: {"name": "Retail Scorecard"}, "name", "already exists"),
        (lambda cast: {"name": "x" * 121}, "name", "Ensure this value has at most 120 characters (it has 121)."),
        (
            lambda cast: {"risk_tier": "extreme"},
            "risk_tier",
            "Select a valid choice. extreme is not one of the available choices.",
        ),
        (lambda cast: {"tags": "ok, not ok!"}, "tags", "Tag &#x27;not ok!&#x27; is not valid"),
        (lambda cast: {"team": cast.team_b.pk}, "team", "Select a valid choice."),  # dana only contributes to A
    ],
    ids=["validator-is-owner", "duplicate-name", "long-name", "unknown-risk", "bad-tag", "other-team"],
)
def test_the_register_form_shows_bad_input_on_the_field_and_writes_nothing(
    cast, models, dana, trail, overrides, field, message
):
    before = RegisteredModel.objects.count()

    response = dana.post("/models/new/", model_form_data(cast, **overrides(cast)))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert RegisteredModel.objects.count() == before
    assert trail.actions() == []


def test_the_register_form_offers_only_teams_where_the_user_may_register(cast, client):
    client.force_login(cast.ben)

    response = client.get("/models/new/")

    assert list(response.context["form"].fields["team"].queryset) == [cast.team_b]


def test_adding_a_version_through_the_form_redirects_to_it(cast, models, dana, trail):
    response = dana.post(
        f"{SCORECARD}versions/new/",
        {"version": "2.0.0", "artifact_digest": f"sha256:{DIGEST.upper()}", "metrics": '{"auc": 0.84}'},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{SCORECARD}versions/2.0.0/"
    version = ModelVersion.objects.get(model=models.scorecard, version="2.0.0")
    assert (version.artifact_digest, version.metrics) == (DIGEST, {"auc": 0.84})
    assert trail.actions() == ["version.created"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"artifact_digest": "xyz"}, "artifact_digest", "Enter a SHA-256 digest: 64 hexadecimal characters"),
        ({"artifact_digest": "a" * 63}, "artifact_digest", "Enter a SHA-256 digest: 64 hexadecimal characters"),
        ({"version": "1.0.0"}, "version", "Retail Scorecard already has a version 1.0.0."),
        ({"version": "../etc"}, "version", "A version starts with a letter or digit"),
        ({"git_commit_sha": "abc"}, "git_commit_sha", "Enter a full Git commit SHA"),
        ({"metrics": '{"auc": "high"}'}, "metrics", "Metric &#x27;auc&#x27; must be a number"),
        ({"metrics": "{auc: 1"}, "metrics", "Not valid JSON"),
        ({"metrics": "[1, 2]"}, "metrics", "Enter JSON an object"),
    ],
)
def test_the_version_form_shows_bad_input_on_the_field_and_writes_nothing(
    cast, models, dana, trail, data, field, message
):
    before = ModelVersion.objects.count()

    response = dana.post(f"{SCORECARD}versions/new/", {"version": "2.0.0"} | data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert message in response.text
    assert ModelVersion.objects.count() == before
    assert trail.actions() == []


def test_editing_through_the_form_records_the_change(cast, models, dana, trail):
    form = dana.get(f"{SCORECARD}edit/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {key: "" if value is None else value for key, value in data.items()}
    data |= {"risk_tier": "critical", "tags": "credit, retail"}

    response = dana.post(f"{SCORECARD}edit/", data)

    assert response.status_code == 302
    assert response["Location"] == SCORECARD
    assert trail.actions() == ["model.updated"]
    assert trail.events()[0].changes == {
        "risk_tier": ["high", "critical"],
        "tags": [["credit"], ["credit", "retail"]],
    }


def test_the_edit_form_shows_a_duplicate_name_on_the_field_and_saves_nothing(cast, models, dana, trail):
    form = dana.get(f"{SCORECARD}edit/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {key: "" if value is None else value for key, value in data.items()}
    data |= {"name": "Card Fraud Detector", "risk_tier": "low"}

    response = dana.post(f"{SCORECARD}edit/", data)

    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["name"])
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).risk_tier == "high"
    assert trail.actions() == []


def test_saving_the_edit_form_unchanged_records_nothing(cast, models, dana, trail):
    form = dana.get(f"{SCORECARD}edit/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {key: "" if value is None else value for key, value in data.items()}

    response = dana.post(f"{SCORECARD}edit/", data)

    assert response.status_code == 302
    assert trail.actions() == []


def test_editing_a_version_through_the_form_records_the_change(cast, models, dana, trail):
    response = dana.post(
        f"{SCORECARD}versions/1.0.0/edit/",
        {"artifact_digest": DIGEST, "metrics": '{"auc": 0.9}', "model_card": "Better.", "training_data": "[]"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{SCORECARD}versions/1.0.0/"
    assert trail.actions() == ["version.updated"]
    assert trail.events()[0].changes == {"metrics": [{"auc": 0.81}, {"auc": 0.9}], "model_card": ["", "Better."]}


def test_changing_the_lifecycle_through_the_form_records_it(cast, models, dana, trail):
    response = dana.post(f"{SCORECARD}lifecycle/", {"status": "validation", "reason": "Ready for review."})

    assert response.status_code == 302
    assert response["Location"] == SCORECARD
    assert trail.actions() == ["model.lifecycle_changed"]
    assert "Retail Scorecard is now in validation." in messages_of(dana.get(SCORECARD))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("dana", {"status": "production", "reason": "Ship it."}, "A model in development can move to retired"),
        ("dana", {"status": "validation", "reason": ""}, "Choose a status and give a reason."),
        ("vera", {"status": "validation", "reason": "Ready."}, "You may not change the lifecycle of Retail Scorecard."),
    ],
)
def test_a_refused_lifecycle_change_explains_why_and_records_nothing(cast, models, client, trail, name, data, message):
    client.force_login(getattr(cast, name))

    response = client.post(f"{SCORECARD}lifecycle/", data, follow=True)

    assert response.redirect_chain == [(SCORECARD, 302)]
    assert any(message in text for text in messages_of(response)), messages_of(response)
    assert RegisteredModel.objects.get(pk=models.scorecard.pk).lifecycle_status == "development"
    assert trail.actions() == []


def test_posting_to_another_teams_model_answers_404_and_records_nothing(cast, models, client, trail):
    client.force_login(cast.ben)

    assert client.post(f"{SCORECARD}lifecycle/", {"status": "validation", "reason": "x"}).status_code == 404
    assert client.post(f"{SCORECARD}share/", {"user": cast.ben.pk, "action": "view"}).status_code == 404
    assert client.post(f"{SCORECARD}edit/", model_form_data(cast, name="Hijacked")).status_code == 404
    assert client.post(f"{SCORECARD}versions/new/", {"version": "6.6.6"}).status_code == 404
    assert trail.actions() == []


def test_sharing_a_model_through_the_form_grants_and_revokes(cast, models, client, trail):
    client.force_login(cast.alice)

    granted = client.post(f"{SCORECARD}share/", {"user": cast.ben.pk, "action": "view"})
    revoked = client.post(f"{SCORECARD}share/", {"user": cast.ben.pk, "action": "view", "revoke": "1"})

    assert (granted.status_code, revoked.status_code) == (302, 302)
    assert trail.actions() == ["permission.granted", "permission.revoked"]


def test_a_contributor_cannot_share_a_model(cast, models, dana, trail):
    response = dana.post(f"{SCORECARD}share/", {"user": cast.ben.pk, "action": "change"}, follow=True)

    assert "Only the owning team&#x27;s admins can grant." in response.text
    assert trail.actions() == []


# --- CSRF -----------------------------------------------------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_rejected(cast, models, trail):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.dana)

    response = browser.post("/models/new/", model_form_data(cast))
    lifecycle = browser.post(f"{SCORECARD}lifecycle/", {"status": "validation", "reason": "x"})

    assert (response.status_code, lifecycle.status_code) == (403, 403)
    assert not RegisteredModel.objects.filter(name="Churn Predictor").exists()
    assert trail.actions() == []


def test_a_post_with_the_forms_csrf_token_is_accepted(cast, models, trail):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.dana)
    page = browser.get("/models/new/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = browser.post("/models/new/", model_form_data(cast) | {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert trail.actions() == ["model.registered"]


def test_the_audit_event_records_where_a_change_came_from(cast, models, dana, trail):
    dana.post(f"{SCORECARD}lifecycle/", {"status": "validation", "reason": "Ready."}, REMOTE_ADDR="203.0.113.9")

    [event] = AuditEvent.objects.filter(sequence__gt=trail.start)
    assert event.context["client_ip"] == "203.0.113.9"
    assert event.context["source"] == "web"
    assert len(event.context["request_id"]) == 32
