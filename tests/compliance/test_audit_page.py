"""/audit/ at scale: keyset pages with a capped count, model/version/actor pickers fed by /audit/suggest/, and one
filter definition behind the page, the API and exports."""

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Membership, Role, Team
from apps.audit.actions import Action
from apps.audit.actors import Actor, ActorKind
from apps.audit.models import AuditEvent
from apps.audit.services import Target, record_many
from apps.compliance.views import PAGE_SIZE
from apps.inventory.models import ModelVersion, RegisteredModel

PAGE = "/audit/"
SUGGEST = "/audit/suggest/"


def add_events(cast, count: int, *, action=Action.MODEL_UPDATED, model=None) -> None:
    """`count` team A events (on `model` when given) in one chain append."""
    scope = {"team": cast.team_a.pk, **({"model": model.pk} if model else {})}
    target = Target("inventory.registeredmodel", model.pk if model else 1, "Bulk model", scope=scope)
    with transaction.atomic():
        record_many([(action, Actor.of(cast.dana), target, {"n": [n, n + 1]}) for n in range(count)])


def add_models(cast, count: int, start: int = 0) -> None:
    RegisteredModel.objects.bulk_create(
        RegisteredModel(name=f"Bulk model {n:05d}", slug=f"bulk-model-{n:05d}", team=cast.team_a, risk_tier="low")
        for n in range(start, start + count)
    )


def sequences_on(response) -> list[int]:
    return [int(number) for number in re.findall(r'href="/audit/(\d+)/"', response.content.decode())]


def input_value(response, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', response.content.decode())
    assert match, f"no input named {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def links(response, rel: str) -> str:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else ""


# --- the page's size and cost do not grow with the inventory or the trail -------------------------------------


def test_the_page_weighs_and_costs_the_same_with_ten_times_the_models_and_events(client, cast, models):
    client.force_login(cast.audrey)
    measured = []
    for models_added, events_added in ((30, 60), (270, 540)):
        add_models(cast, models_added, start=len(measured) * 1000)
        add_events(cast, events_added)
        client.get(PAGE)  # warm: sessions, content types
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PAGE)
        assert response.status_code == 200
        measured.append((len(response.content), len(queries)))
    (small_bytes, small_queries), (large_bytes, large_queries) = measured
    assert large_queries == small_queries
    # Only digits grow: the count, and each row's sequence number (links, cursor), one digit longer.
    assert abs(large_bytes - small_bytes) < small_bytes / 100, measured
    assert "<select" not in re.search(r'name="model".*?>', response.content.decode()).group(0)
    assert "Bulk model 00001" not in response.content.decode()  # no list of models anywhere in the page


def test_the_count_is_capped_and_says_so(client, cast, models, monkeypatch):
    monkeypatch.setattr("apps.core.keyset.COUNT_CAP", 20)
    add_events(cast, 30)
    add_events(cast, 3, action=Action.MODEL_LIFECYCLE_CHANGED)
    client.force_login(cast.audrey)
    capped = client.get(PAGE).content.decode()
    narrowed = client.get(PAGE, {"action": Action.MODEL_LIFECYCLE_CHANGED.value}).content.decode()

    assert "20+ events" in capped and 'title="Counted up to 20+: narrow the trail' in capped
    assert ">3 events<" in narrowed and "Counted up to" not in narrowed  # an exact count carries no caveat


def test_each_row_shows_its_event_escaped_and_links_to_the_events_page(client, cast, models):
    hostile = Target(
        "inventory.registeredmodel", 999_999, '<script>alert("x")</script>', scope={"team": cast.team_a.pk}
    )
    token = Actor(user=cast.dana, label="dana (token gp_abc)", kind=ActorKind.TOKEN)
    with transaction.atomic():
        record_many([(Action.MODEL_UPDATED, token, hostile, {"note": [None, "<b>bold</b>"]})])
    event = AuditEvent.objects.latest("sequence")
    event_page = reverse("audit:event-detail", args=[event.sequence])
    client.force_login(cast.audrey)
    text = client.get(PAGE).content.decode()
    row = re.search(rf'<tr>\s*<td class="mono"><a href="{event_page}">{event.sequence}</a>.*?</td>\s*</tr>', text, re.S)
    assert row, "the newest event's row links to its page"
    row = row.group(0)
    assert "<script>" not in row and "<b>" not in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</div><code>model.updated</code>" in row  # the sentence
    assert "<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>" in row  # the target: gone, so no link
    assert 'Dana Tester (token gp_abc) <span class="badge text-bg-light border">service token</span>' in row
    assert '<summary class="small">1 field</summary>' in row and "<td>&lt;b&gt;bold&lt;/b&gt;</td>" in row
    assert client.get(event_page).status_code == 200


# --- keyset pages -----------------------------------------------------------------------------------------------


def test_next_and_previous_walk_the_trail_newest_first_and_keep_the_filters(client, cast, models):
    add_events(cast, 120, action=Action.VERSION_UPDATED)
    client.force_login(cast.audrey)
    expected = list(
        AuditEvent.objects.filter(action="version.updated").order_by("-sequence").values_list("sequence", flat=True)
    )
    first = client.get(PAGE, {"action": "version.updated"})
    seen, page, pages = sequences_on(first), first, [first]
    while next_link := links(page, "next"):
        assert "action=version.updated" in next_link
        page = client.get(PAGE + next_link)
        assert page.status_code == 200
        seen += sequences_on(page)
        pages.append(page)
    assert seen == expected and len(pages) == -(-len(expected) // PAGE_SIZE) > 2
    back = client.get(PAGE + links(pages[-1], "prev"))
    assert sequences_on(back) == sequences_on(pages[-2])
    assert "action=version.updated" in links(pages[-1], "prev")


def test_a_tampered_cursor_shows_the_first_page_with_a_message(client, cast, models):
    add_events(cast, 60)
    client.force_login(cast.audrey)
    first = client.get(PAGE)
    response = client.get(PAGE, {"cursor": "not-a-cursor!"})
    assert response.status_code == 200
    assert "This page link is not valid" in response.content.decode()
    assert sequences_on(response) == sequences_on(first)


def test_an_old_page_number_link_shows_the_newest_events_and_says_why(client, cast, models):
    add_events(cast, 60)
    client.force_login(cast.audrey)
    response = client.get(PAGE, {"page": "3"})
    assert response.status_code == 200
    assert "page number no longer applies" in response.content.decode()
    assert sequences_on(response) == sequences_on(client.get(PAGE))
    assert client.get(PAGE, {"page": "banana"}).status_code == 200


# --- the pickers' fields without JavaScript, and links that give ids ------------------------------------------


def test_a_model_is_chosen_by_name_slug_or_id_and_the_picker_shows_its_name(client, cast, models):
    client.force_login(cast.audrey)
    scorecard = models.scorecard
    expected = set(AuditEvent.objects.filter(model_id=scorecard.pk).values_list("sequence", flat=True))
    for typed in ("Retail Scorecard", "retail scorecard", "retail-scorecard", str(scorecard.pk)):
        response = client.get(PAGE, {"model": typed})
        assert response.status_code == 200, typed
        assert set(sequences_on(response)) == expected
        assert input_value(response, "model") == "Retail Scorecard"


def test_a_version_is_chosen_by_its_name_under_the_model(client, cast, models):
    client.force_login(cast.audrey)
    version = ModelVersion.objects.get(model=models.scorecard, version="1.1.0")
    response = client.get(PAGE, {"model": "Retail Scorecard", "version": "1.1.0"})
    assert response.status_code == 200
    assert set(sequences_on(response)) == set(
        AuditEvent.objects.filter(version_id=version.pk).values_list("sequence", flat=True)
    )
    assert input_value(response, "version") == "1.1.0"


def test_an_old_link_with_a_version_id_shows_the_model_and_version_by_name(client, cast, models):
    client.force_login(cast.audrey)
    version = ModelVersion.objects.get(model=models.scorecard, version="1.0.0")
    response = client.get(PAGE, {"version": str(version.pk)})
    assert response.status_code == 200
    assert (input_value(response, "model"), input_value(response, "version")) == ("Retail Scorecard", "1.0.0")
    assert set(sequences_on(response)) == set(
        AuditEvent.objects.filter(version_id=version.pk).values_list("sequence", flat=True)
    )


def test_the_action_field_suggests_each_entity_prefix_and_every_action_in_the_catalogue(client, cast, models):
    client.force_login(cast.audrey)
    for _ in range(2):  # the options are written once a process: the second page shows the same
        datalist = re.search(r'<datalist id="audit-actions">(.*?)</datalist>', client.get(PAGE).content.decode()).group(
            1
        )
        offered = re.findall(r'<option value="([^"]+)">', datalist)
        assert offered[: offered.index("audit.checkpoint_signed")] == sorted(
            {a.value.split(".")[0] + "." for a in Action}
        )
        assert sorted(offered[len(offered) - len(Action) :]) == sorted(action.value for action in Action)


def team_options(response) -> list[tuple[str, str]]:
    select = re.search(r'<select name="team".*?</select>', response.content.decode(), re.S).group(0)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def test_the_team_filter_offers_the_teams_whose_trail_the_reader_reads_by_name(client, cast, models):
    analytics = Team.objects.create(name="Analytics", slug="analytics")
    Membership.objects.create(user=cast.ben, team=analytics, role=Role.AUDITOR)
    Membership.objects.create(user=cast.ben, team=cast.team_a, role=Role.VIEWER)  # sees models, not the trail
    teams = {team.name: (str(team.pk), team.name) for team in (analytics, cast.team_a, cast.team_b)}
    client.force_login(cast.ben)
    assert team_options(client.get(PAGE)) == [("", "All teams"), teams["Analytics"], teams["Fraud"]]
    client.force_login(cast.admin)  # a superuser reads every team's trail
    assert team_options(client.get(PAGE)) == [
        ("", "All teams"),
        teams["Analytics"],
        teams["Credit Risk"],
        teams["Fraud"],
    ]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"model": "Card Fraud Detector"}, "model", "No model &#x27;Card Fraud Detector&#x27; that you may see"),
        ({"model": "Retail Scorecard", "version": "9.9.9"}, "version", "has no version &#x27;9.9.9&#x27;"),
        ({"version": "1.0.0"}, "version", "Choose the model first"),
        ({"request": "abc"}, "request", "request must be a positive number (an id), not &#x27;abc&#x27;."),
        ({"date_from": "2026-02-30"}, "date_from", "is not a date: use YYYY-MM-DD."),
    ],
)  # fmt: skip
def test_a_bad_filter_is_shown_on_its_field(client, cast, models, params, field, message):
    client.force_login(cast.audrey)
    events_before = AuditEvent.objects.count()
    response = client.get(PAGE, params)
    assert response.status_code == 400
    assert re.search(rf'id="id_{field}-error">[^<]*{re.escape(message)}', response.content.decode())
    assert AuditEvent.objects.count() == events_before


def test_the_api_takes_the_same_filters_and_refuses_the_same_way(client, cast, models):
    client.force_login(cast.audrey)
    body = client.get("/api/v1/audit/events/", {"model": "retail-scorecard", "version": "1.1.0"}).json()
    version = ModelVersion.objects.get(model=models.scorecard, version="1.1.0")
    assert {event["version_id"] for event in body["results"]} == {version.pk}
    refused = client.get("/api/v1/audit/events/", {"model": "Card Fraud Detector"})
    assert refused.status_code == 400
    assert "No model 'Card Fraud Detector' that you may see" in refused.content.decode()
    unknown = client.get("/api/v1/audit/events/", {"colour": "red"})
    assert unknown.status_code == 400 and "Unknown filter: colour." in unknown.content.decode()


# --- /audit/suggest/ ----------------------------------------------------------------------------------------------


def suggest(client, user, **params):
    client.force_login(user)
    return client.get(SUGGEST, params)


def values(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["value"] for row in response.json()["results"]]


def test_models_are_suggested_only_from_teams_the_reader_may_see(client, cast, models):
    assert values(suggest(client, cast.audrey, kind="model", q="retail")) == ["Retail Scorecard"]
    assert values(suggest(client, cast.audrey, kind="model", q="card")) == ["Retail Scorecard"]  # not the fraud one
    assert values(suggest(client, cast.audrey, kind="model", q="card-fraud")) == []
    assert values(suggest(client, cast.ben, kind="model", q="card")) == ["Card Fraud Detector"]
    assert values(suggest(client, cast.admin, kind="model", q="card")) == ["Card Fraud Detector", "Retail Scorecard"]


def test_at_most_twenty_suggestions_come_back(client, cast, models):
    add_models(cast, 40)
    assert len(values(suggest(client, cast.audrey, kind="model", q="bulk"))) == 20


def test_versions_are_suggested_under_the_chosen_model_only(client, cast, models):
    assert values(suggest(client, cast.audrey, kind="version", model="Retail Scorecard", q="1.")) == ["1.1.0", "1.0.0"]
    assert values(suggest(client, cast.audrey, kind="version", model="retail-scorecard", q="1.1")) == ["1.1.0"]
    refused = suggest(client, cast.audrey, kind="version", model="Card Fraud Detector", q="")
    assert refused.status_code == 400
    assert refused.json() == {"error": "No model 'Card Fraud Detector' that you may see."}


def test_actors_are_the_people_of_the_readers_teams_and_security_principals_only_for_portal_auditors(
    client, cast, models
):
    audrey_sees = values(suggest(client, cast.audrey, kind="actor", q=""))
    assert {"dana", "bo", "admin", "git-sync"} <= set(audrey_sees)
    assert "ben" not in audrey_sees and "auth" not in audrey_sees  # another team's admin; sign-in failures
    assert values(suggest(client, cast.audrey, kind="actor", q="Da")) == ["dana"]
    admin_sees = values(suggest(client, cast.admin, kind="actor", q=""))
    assert {"ben", "auth"} <= set(admin_sees)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "team", "q": "x"}, "kind must be one of model, version, actor, not 'team'."),
        ({"kind": "model", "q": "x" * 101}, "q is at most 100 characters."),
        ({"kind": "model", "colour": "red"}, "Unknown parameter: colour. Use kind, q, model."),
        ({"kind": "version", "q": "1"}, "Choose the model first: versions are suggested under a model"),
    ],
)  # fmt: skip
def test_bad_suggestion_requests_are_refused_with_a_message_and_write_nothing(client, cast, models, params, message):
    events_before = AuditEvent.objects.count()
    response = suggest(client, cast.audrey, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert AuditEvent.objects.count() == events_before


def test_suggestions_need_a_sign_in_and_the_audit_trail(client, cast, models):
    assert client.get(SUGGEST, {"kind": "model"}).status_code == 302
    refused = suggest(client, cast.vera, kind="model", q="retail")
    assert refused.status_code == 403 and "auditors and team admins" in refused.json()["error"]


def test_suggestions_cost_a_fixed_few_queries_whatever_the_inventory(client, cast, models):
    counts = []
    for start in (0, 1000):
        add_models(cast, 50 if not start else 500, start=start)
        suggest(client, cast.audrey, kind="model", q="bulk")
        with CaptureQueriesContext(connection) as queries:
            assert len(values(client.get(SUGGEST, {"kind": "model", "q": "bulk"}))) == 20
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_export_form_carries_the_pickers_names_and_exports_that_versions_events(client, cast, models):
    from apps.compliance.models import AuditExport

    client.force_login(cast.audrey)
    version = ModelVersion.objects.get(model=models.scorecard, version="1.1.0")
    page = client.get(PAGE, {"version": str(version.pk)}).content.decode()
    form = re.search(r'<form[^>]*id="export-form".*?</form>', page, re.S).group(0)
    hidden = dict(re.findall(r'<input type="hidden" name="(model|version)" value="([^"]*)">', form))
    assert hidden == {"model": "Retail Scorecard", "version": "1.1.0"}
    response = client.post("/audit/exports/start/", {"format": "csv", **hidden})
    assert response.status_code in (200, 302), response.content
    export = AuditExport.objects.get()
    assert (export.filters["model"], export.filters["version"]) == (models.scorecard.pk, version.pk)
    assert export.total == AuditEvent.objects.filter(version_id=version.pk).count()


def test_every_system_principal_the_apps_name_is_offered_by_the_actor_picker():
    from pathlib import Path

    from django.conf import settings

    from apps.compliance import pickers

    named = set()
    for path in (Path(settings.BASE_DIR) / "apps").rglob("*.py"):
        named |= set(re.findall(r'Actor\.system\("([^"]+)"\)', path.read_text()))
    assert named and named <= set(pickers.SYSTEM_ACTORS) | set(pickers.SECURITY_SYSTEM_ACTORS)
