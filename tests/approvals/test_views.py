"""Approval pages: the inbox, the request page and its decision form, requesting a deployment, policies."""

import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import ApprovalPolicy, Decision, DeploymentRequest, RequestState, RequestStep
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory import services as inventory
from tests.conftest import DIGEST, PASSWORD

from .conftest import BUSINESS_SIGN_OFF, MODEL_RISK_REVIEW, Trail, decide, reload, request_production

HISTORY_ROW = r'<td class="mono">(?:<a href="[^"]*">)?(\d+)'  # the "#" cell of an event row
SELF_APPROVAL = "You requested this deployment, so you cannot approve it. You may withdraw it instead."


def text(response) -> str:
    return html.unescape(response.content.decode())


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def pending(cast, envs, v1, trail):
    return request_production(cast, v1, envs)


def detail(request):
    return f"/approvals/requests/{request.pk}/"


# --- the inbox and the badge ------------------------------------------------------------------------------------------


def test_waiting_for_me_lists_what_i_may_decide_oldest_first_with_overdue_marked(client, cast, envs, v1, v2, trail):
    older = request_production(cast, v1, envs)
    newer = request_production(cast, v2, envs)
    RequestStep.objects.filter(request=older).update(
        opened_at=timezone.now() - timedelta(days=5), due_at=timezone.now() - timedelta(days=2)
    )

    response = login(client, cast.rita).get("/approvals/")

    assert response.status_code == 200
    assert [step.request_id for step in response.context["waiting"]] == [older.pk, newer.pk]
    table = text(response).split('id="waiting-table"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert f"#{older.pk}" in rows[0] and "overdue" in rows[0]
    assert f"#{newer.pk}" in rows[1] and "overdue" not in rows[1]
    assert "Model risk review" in table and "(2 needed)" in table
    assert "You have not requested any deployment." in text(response)


def test_my_requests_lists_the_requesters_own(client, cast, envs, pending):
    response = login(client, cast.dana).get("/approvals/")

    assert list(response.context["waiting"]) == []
    assert [req.pk for req in response.context["mine"]] == [pending.pk]
    assert "Nothing is waiting for your decision." in text(response)
    mine = text(response).split('id="mine-table"')[1]
    assert f"#{pending.pk}" in mine and "Pending" in mine


@pytest.mark.parametrize("name", ["vera", "audrey", "alice", "ben", "dana"])
def test_nothing_waits_for_people_who_may_not_decide(client, cast, pending, name):
    response = login(client, getattr(cast, name)).get("/approvals/")

    assert list(response.context["waiting"]) == []
    assert 'id="approvals-badge"' not in text(response)


@pytest.mark.parametrize("url", ["/", "/models/", "/approvals/", "/approvals/policies/", "/teams/"])
def test_the_badge_counts_my_waiting_requests_on_every_page(client, cast, envs, v1, v2, trail, url):
    request_production(cast, v1, envs)
    request_production(cast, v2, envs)

    response = login(client, cast.rita).get(url)

    assert response.status_code == 200
    assert re.search(r'id="approvals-badge"[^>]*>2</span>', text(response))


@pytest.mark.django_db(transaction=True)
def test_the_badge_moves_to_the_business_owner_once_the_review_is_done(client, cast, pending):
    assert re.search(r'id="approvals-badge"[^>]*>1</span>', text(login(client, cast.bo).get("/models/")))

    decide(cast.rita, pending)
    decide(cast.sam, pending)

    assert 'id="approvals-badge"' not in text(login(client, cast.rita).get("/models/"))
    assert re.search(r'id="approvals-badge"[^>]*>1</span>', text(login(client, cast.bo).get("/models/")))
    assert [s.request_id for s in login(client, cast.bo).get("/approvals/").context["waiting"]] == [pending.pk]

    decide(cast.bo, pending)

    assert 'id="approvals-badge"' not in text(login(client, cast.bo).get("/models/"))


# --- the request page -------------------------------------------------------------------------------------------------


def test_the_request_page_shows_subject_checks_evidence_and_the_decision_form(client, cast, pending):
    response = login(client, cast.rita).get(detail(pending))

    assert response.status_code == 200
    page = text(response)
    request = reload(pending)
    assert "Deploy Retail Scorecard" in page and "to production" in page
    assert DIGEST in page and request.subject_hash in page
    assert "Quarterly refresh." in page
    assert "Production high risk" in page and "(revision 1, frozen at submission)" in page
    checks = page.split('id="checks"')[1].split("</table>")[0]
    assert "Model card present" in checks and "Artifact digest present" in checks and "auc >= 0.8" in checks
    assert "auc is 0.81" in checks
    assert "0.81" in page.split("<h2>Evidence</h2>")[1]
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert "1. Model risk review" in timeline and "2. Business owner sign-off" in timeline
    assert 'id="decide"' in page and "Your decision on step 1: Model risk review" in page
    assert "Password (electronic signature)" in page
    assert "request.submitted" in page  # the history


@pytest.mark.django_db(transaction=True)
def test_the_request_history_is_newest_first(client, cast, pending):
    decide(cast.rita, pending, comment="Backtest fine.")
    events = list(AuditEvent.objects.filter(request_id=pending.pk).order_by("-sequence"))
    assert len(events) >= 2

    history = text(login(client, cast.rita).get(detail(pending))).split('id="history"')[1]
    shown = [int(n) for n in re.findall(HISTORY_ROW, history)]

    assert shown[: len(events)] == [event.sequence for event in events]


def test_a_long_request_history_pages_by_history_page(client, cast, pending, monkeypatch):
    from apps.approvals import views

    monkeypatch.setattr(views, "HISTORY_PAGE_SIZE", 1)
    newest, older = AuditEvent.objects.filter(request_id=pending.pk).order_by("-sequence")[:2]
    login(client, cast.rita)

    first = text(client.get(detail(pending))).split('id="history"')[1]
    second = text(client.get(detail(pending) + "?history_page=2")).split('id="history"')[1]

    assert [int(n) for n in re.findall(HISTORY_ROW, first)] == [newest.sequence]
    assert "history_page=2" in first
    assert [int(n) for n in re.findall(HISTORY_ROW, second)] == [older.sequence]


def test_the_requester_sees_a_note_and_the_withdraw_form_instead_of_the_decision_form(client, cast, pending):
    page = text(login(client, cast.dana).get(detail(pending)))

    assert 'id="decide"' not in page
    assert "You requested this deployment, so you cannot approve it. You may withdraw it." in page
    assert f"/approvals/requests/{pending.pk}/cancel/" in page


@pytest.mark.django_db(transaction=True)
def test_the_timeline_shows_each_signature_manifestation(client, cast, pending):
    rita = decide(cast.rita, pending, comment="Backtest fine.")
    sam = decide(cast.sam, pending)

    page = text(login(client, cast.vera).get(detail(pending)))

    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    for decision, printed in ((rita, "Rita Tester (rita)"), (sam, "Sam Tester (sam)")):
        assert printed in timeline
        # The one time format: local time in the browser, the exact UTC time of the signature on hover
        at = decision.decided_at
        assert f'<time datetime="{at:%Y-%m-%dT%H:%M:%SZ}" title="{at:%Y-%m-%d %H:%M:%S} UTC">' in timeline
        assert decision.signature_hash[:16] in timeline
    assert timeline.count("Approved as Model risk review") == 2
    assert "“Backtest fine.”" in timeline
    assert "Signed electronically" in timeline
    assert "Eligible: holds the approver role in the model's team" in timeline
    assert 'id="decide"' not in page  # vera may read, not decide


def test_a_user_of_another_team_gets_404(client, cast, pending):
    login(client, cast.ben)

    assert client.get(detail(pending)).status_code == 404
    assert client.post(f"{detail(pending)}decide/", {"outcome": "approve"}).status_code == 404
    assert client.post(f"{detail(pending)}cancel/").status_code == 404
    assert reload(pending).state == RequestState.PENDING


def test_anonymous_visitors_are_sent_to_sign_in(client, pending):
    response = client.get(detail(pending))

    assert response.status_code == 302
    assert "/login" in response["Location"]


@pytest.mark.parametrize("action", ["decide", "cancel", "submit"])
def test_post_only_endpoints_refuse_get(client, cast, pending, action):
    response = login(client, cast.rita).get(f"{detail(pending)}{action}/")

    assert response.status_code == 405


# --- deciding through the page ----------------------------------------------------------------------------------------


def test_the_requester_posting_a_decision_gets_403_with_the_message(client, cast, pending):
    events = AuditEvent.objects.count()

    response = login(client, cast.dana).post(f"{detail(pending)}decide/", {"outcome": "approve", "password": PASSWORD})

    assert response.status_code == 403
    assert messages_of(response) == [SELF_APPROVAL]
    assert SELF_APPROVAL in text(response).split('id="request-body"')[1]
    assert Decision.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_an_htmx_refusal_answers_200_with_the_message_in_the_fragment(client, cast, pending):
    response = login(client, cast.dana).post(
        f"{detail(pending)}decide/", {"outcome": "approve", "password": PASSWORD}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    fragment = text(response).split('<div id="request-body">')[1]
    assert SELF_APPROVAL in fragment
    assert Decision.objects.count() == 0


def test_a_rejection_without_comment_is_a_form_error(client, cast, pending):
    response = login(client, cast.rita).post(f"{detail(pending)}decide/", {"outcome": "reject", "password": PASSWORD})

    assert response.status_code == 400
    assert "Say why you reject: a comment is required." in text(response)
    assert Decision.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_approver_approves_with_the_password(client, cast, pending):
    login(client, cast.rita)
    step = pending.steps.get(order=1)

    response = client.post(
        f"{detail(pending)}decide/", {"outcome": "approve", "password": PASSWORD, "step": step.pk}, follow=True
    )

    assert response.redirect_chain == [(detail(pending), 302)]
    assert messages_of(response) == ["Recorded: Approved as Model risk review."]
    assert Decision.objects.get().username == "rita"
    assert 'id="decide"' not in text(response)  # decided: the form is gone
    assert 'id="approvals-badge"' not in text(response)


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_on_the_page_refuses_and_keeps_the_failure(client, cast, pending):
    trail = Trail()

    response = login(client, cast.rita).post(
        f"{detail(pending)}decide/", {"outcome": "approve", "password": "nope", "step": pending.steps.get(order=1).pk}
    )

    assert response.status_code == 403
    page = text(response)
    # On the password field itself, not in a banner: the field is marked invalid and the reason is right under it
    field = re.search(r'<input type="password" name="password"[^>]*>', page).group(0)
    assert 'class="form-control is-invalid"' in field and 'aria-invalid="true"' in field
    assert page.split(field)[1].startswith(
        '<div class="invalid-feedback d-block" id="password-error">The password is not correct: the decision was not '
        "recorded. 4 attempts left before signing locks.</div>"
    )
    assert 'class="alert alert-danger' not in page
    assert Decision.objects.count() == 0
    assert trail.actions() == ["signature.failed"]


@pytest.mark.django_db(transaction=True)
def test_the_full_path_through_the_pages(client, cast, pending):
    for user in (cast.rita, cast.sam, cast.bo):
        login(client, user)
        step = reload(pending).steps.get(state="open")
        response = client.post(f"{detail(pending)}decide/", {"outcome": "approve", "password": PASSWORD,
                                                              "step": step.pk})  # fmt: skip
        assert response.status_code == 302

    assert reload(pending).state == RequestState.APPROVED
    timeline = text(login(client, cast.dana).get(detail(pending))).split('id="timeline"')[1].split("</ol>")[0]
    assert re.findall(r'data-username="(\w+)"', timeline) == ["rita", "sam", "bo"]
    assert "Approved as Business owner sign-off" in timeline
    assert timeline.count("Approved as Model risk review") == 2


def test_the_requester_withdraws_through_the_page(client, cast, pending):
    response = login(client, cast.dana).post(f"{detail(pending)}cancel/", {"reason": "Wrong version."}, follow=True)

    assert messages_of(response) == ["Request withdrawn."]
    assert reload(pending).state == RequestState.CANCELLED


def test_an_approver_cannot_withdraw_through_the_page(client, cast, pending):
    response = login(client, cast.rita).post(f"{detail(pending)}cancel/", follow=True)

    assert messages_of(response) == ["Only the requester can withdraw this request."]
    assert reload(pending).state == RequestState.PENDING


def test_a_draft_is_submitted_through_the_page(client, cast, envs, v1, trail):
    draft = services.deployment_request_create(actor=Actor.of(cast.dana), version=v1, environment=envs.production,
                                               justification="Draft.")  # fmt: skip
    login(client, cast.dana)
    assert "Submit for approval" in text(client.get(detail(draft)))

    response = client.post(f"{detail(draft)}submit/", follow=True)

    assert messages_of(response) == ["Submitted for approval."]
    assert reload(draft).state == RequestState.PENDING


# --- requesting a deployment ------------------------------------------------------------------------------------------


def new(version, environment=None):
    return f"/approvals/new/{version.pk}/" + (f"?environment={environment.pk}" if environment else "")


def test_the_request_form_shows_the_checks_for_the_chosen_environment(client, cast, envs, v1, trail):
    response = login(client, cast.dana).get(new(v1, envs.production))

    assert response.status_code == 200
    assert response.context["environment"] == envs.production
    preview = text(response).split('id="checks-preview"')[1]
    assert "Governed by" in preview and "Production high risk" in preview
    assert "1. Model risk review (2) → 2. Business owner sign-off (1)" in preview
    assert "Model card present" in preview and "auc >= 0.8" in preview


def test_requesting_through_the_form_creates_and_submits(client, cast, envs, v1, trail):
    response = login(client, cast.dana).post(
        new(v1), {"environment": envs.production.pk, "justification": "Ready for production."}, follow=True
    )

    request = DeploymentRequest.objects.get()
    assert response.redirect_chain == [(detail(request), 302)]
    assert messages_of(response) == [f"Request #{request.pk} submitted for approval."]
    assert request.state == RequestState.PENDING
    assert trail.actions() == ["request.created", "request.submitted", "request.step_opened"]


def test_a_failing_check_re_renders_the_form_with_the_reason_and_writes_nothing(client, cast, envs, scorecard, trail):
    bare = inventory.model_version_create(actor=Actor.of(cast.dana), model=scorecard, version="2.0.0",
                                          artifact_digest=DIGEST, metrics={"auc": 0.9})  # fmt: skip
    trail = Trail()

    response = login(client, cast.dana).post(new(bare), {"environment": envs.production.pk, "justification": "Go."})

    assert response.status_code == 200
    assert "Checks failed: Model card present: The version has no model card." in text(response)
    assert DeploymentRequest.objects.count() == 0
    assert trail.events() == []


def test_a_protected_environment_without_policy_re_renders_with_the_reason(client, cast, envs, v1, trail):
    response = login(client, cast.dana).post(new(v1), {"environment": envs.staging.pk, "justification": "Go."})

    assert response.status_code == 200
    assert "staging is protected and no approval policy governs high-risk models there" in text(response)
    assert DeploymentRequest.objects.count() == 0
    assert trail.events() == []


def test_a_missing_justification_is_a_field_error(client, cast, envs, v1, trail):
    response = login(client, cast.dana).post(new(v1), {"environment": envs.production.pk, "justification": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["justification"] == ["This field is required."]
    assert DeploymentRequest.objects.count() == 0


@pytest.mark.parametrize(("name", "status"), [("vera", 403), ("rita", 403), ("ben", 404)])
def test_only_contributors_and_admins_reach_the_request_form(client, cast, envs, v1, trail, name, status):
    login(client, getattr(cast, name))

    assert client.get(new(v1)).status_code == status
    assert client.post(new(v1), {"environment": envs.production.pk, "justification": "x"}).status_code == status
    assert client.get(f"/approvals/new/{v1.pk}/checks/?environment={envs.production.pk}").status_code == status
    assert DeploymentRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("production", "Governed by"),
        ("staging", "staging is protected and no approval policy governs high-risk models there"),
        ("development", "it is not protected, so the request is approved on submission"),
        (None, "Choose an environment."),
    ],
)
def test_the_checks_preview_fragment_follows_the_environment(client, cast, envs, v1, trail, environment, expected):
    query = f"?environment={getattr(envs, environment).pk}" if environment else ""

    response = login(client, cast.dana).get(f"/approvals/new/{v1.pk}/checks/{query}")

    assert response.status_code == 200
    assert response.content.decode().startswith('<div id="checks-preview">')
    assert expected in text(response)
    assert "<html" not in text(response)


# --- policies ---------------------------------------------------------------------------------------------------------


class FormDefaults(HTMLParser):
    """What a browser would post back from the page's POST form untouched: field name → list of values."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self.inside = False
        self.select = self.textarea = None
        self.options: list[dict] = []

    def add(self, name, value):
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method") == "post":
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and attrs.get("name") and attrs.get("type") != "submit":
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.add(attrs["name"], attrs.get("value", "on" if attrs.get("type") == "checkbox" else ""))
        elif tag == "select":
            self.select, self.options = attrs, []
        elif tag == "option" and self.select is not None:
            self.options.append(attrs)
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.add(self.textarea, "")

    def handle_data(self, data):
        if self.textarea:
            self.values[self.textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = [o for o in self.options if "selected" in o]
            if not chosen and "multiple" not in self.select and self.options:
                chosen = self.options[:1]  # a single select with nothing selected posts its first option
            for option in chosen:
                self.add(self.select["name"], option.get("value", ""))
            self.select = None
        elif tag == "form":
            self.inside = False


def form_defaults(response) -> dict[str, list[str]]:
    parser = FormDefaults()
    parser.feed(response.content.decode())
    return parser.values


def fill(defaults, **fields):
    """The page's defaults with some fields typed in (keys use __ for -, e.g. steps__0__name)."""
    data = dict(defaults)
    for key, value in fields.items():
        data[key.replace("__", "-")] = value if isinstance(value, list) else [str(value)]
    return data


def new_policy_data(client, envs, **fields):
    defaults = form_defaults(client.get("/approvals/policies/new/"))
    assert defaults["steps-TOTAL_FORMS"] == ["2"]  # one step and a blank extra one, as the browser shows them
    typed = {
        "name": "Staging medium risk", "environment": envs.staging.pk, "risk_tiers": ["medium"], "expiry_days": 10,
        "metric_thresholds": '[{"metric": "auc", "op": ">=", "value": 0.75}]', "steps__0__name": "Peer review",
        "steps__0__role": "approver", "steps__0__due_hours": 24,
    }  # fmt: skip
    return fill(defaults, **(typed | fields))


def test_everyone_reads_the_policies_page_only_superusers_see_edit_links(client, cast, policy):
    page = text(login(client, cast.vera).get("/approvals/policies/"))
    assert "Production high risk" in page and "revision 1" in page
    assert "New policy" not in page and f"/approvals/policies/{policy.pk}/" not in page

    page = text(login(client, cast.admin).get("/approvals/policies/"))
    assert "New policy" in page and f"/approvals/policies/{policy.pk}/" in page


def test_a_superuser_creates_a_policy_through_the_formset(client, cast, envs, scorecard):
    login(client, cast.admin)
    data = new_policy_data(client, envs)
    trail = Trail()

    response = client.post("/approvals/policies/new/", data, follow=True)

    assert messages_of(response) == ["Saved Staging medium risk (revision 1)."]
    created = ApprovalPolicy.objects.get(name="Staging medium risk")
    assert (created.environment, created.risk_tiers, created.expiry_days) == (envs.staging, ["medium"], 10)
    assert created.metric_thresholds == [{"metric": "auc", "op": ">=", "value": 0.75}]
    assert (created.require_model_card, created.require_digest, created.active) == (True, True, True)
    assert [(s.order, s.name, s.role, s.quorum, s.requires_signature, s.due_hours) for s in created.steps.all()] == [
        (1, "Peer review", "approver", 1, True, 24),
    ]  # fmt: skip
    assert trail.actions() == ["policy.created"]


def test_a_superuser_edits_a_policy_and_the_revision_goes_up(client, cast, envs, scorecard):
    login(client, cast.admin)
    client.post("/approvals/policies/new/", new_policy_data(client, envs))
    created = ApprovalPolicy.objects.get(name="Staging medium risk")
    edit = f"/approvals/policies/{created.pk}/"
    defaults = form_defaults(client.get(edit))
    assert defaults["steps-0-name"] == ["Peer review"] and defaults["expiry_days"] == ["10"]
    trail = Trail()

    response = client.post(edit, fill(defaults, expiry_days=20, steps__0__quorum=2), follow=True)

    assert messages_of(response) == ["Saved Staging medium risk (revision 2)."]
    assert trail.actions() == ["policy.changed"]
    assert trail.events()[0].changes["expiry_days"] == [10, 20]
    assert list(ApprovalPolicy.objects.get(pk=created.pk).steps.values_list("quorum", flat=True)) == [2]

    response = client.post(edit, form_defaults(client.get(edit)), follow=True)  # saved again, nothing changed

    assert messages_of(response) == ["Saved Staging medium risk (revision 2)."]
    assert trail.actions() == ["policy.changed"]


def test_a_superuser_adds_a_step_in_the_blank_extra_form(client, cast, envs, scorecard):
    login(client, cast.admin)
    data = new_policy_data(client, envs, steps__1__name="Owner sign-off", steps__1__approver_kind="users",
                           steps__1__users=[str(cast.bo.pk)])  # fmt: skip

    client.post("/approvals/policies/new/", data)

    created = ApprovalPolicy.objects.get(name="Staging medium risk")
    assert [(s.order, s.name, s.approver_kind) for s in created.steps.all()] == [
        (1, "Peer review", "role"), (2, "Owner sign-off", "users"),
    ]  # fmt: skip
    assert list(created.steps.get(order=2).users.all()) == [cast.bo]


def test_an_unsatisfiable_policy_is_shown_back_with_the_reason(client, cast, envs, scorecard):
    login(client, cast.admin)

    response = client.post("/approvals/policies/new/",
                           new_policy_data(client, envs, risk_tiers=["high"], steps__0__quorum=5))  # fmt: skip

    assert response.status_code == 200
    assert "Step 1 (Peer review) needs 5 distinct eligible approvers in Credit Risk" in text(response)
    assert not ApprovalPolicy.objects.filter(name="Staging medium risk").exists()


@pytest.mark.parametrize("name", ["alice", "rita", "dana", "vera"])
def test_only_superusers_open_or_post_the_policy_form(client, cast, envs, policy, name):
    login(client, getattr(cast, name))
    events = AuditEvent.objects.count()

    data = {"name": "Mine", "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0", "steps-0-name": "Me",
            "steps-0-approver_kind": "users", "steps-0-users": [str(cast.alice.pk)], "steps-0-quorum": "1",
            "steps-0-due_hours": "1", "expiry_days": "1"}  # fmt: skip

    assert client.get("/approvals/policies/new/").status_code == 403
    assert client.get(f"/approvals/policies/{policy.pk}/").status_code == 403
    assert client.post("/approvals/policies/new/", data).status_code == 403
    assert client.post(f"/approvals/policies/{policy.pk}/", data).status_code == 403
    assert ApprovalPolicy.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_the_request_list_filters_by_state(client, cast, envs, v1, v2, trail):
    kept = request_production(cast, v1, envs)
    withdrawn = request_production(cast, v2, envs)
    services.deployment_request_cancel(actor=Actor.of(cast.dana), request=withdrawn)
    login(client, cast.vera)

    assert [r.pk for r in client.get("/approvals/requests/").context["page"]] == [withdrawn.pk, kept.pk]
    assert [r.pk for r in client.get("/approvals/requests/?state=pending").context["page"]] == [kept.pk]
    assert list(login(client, cast.ben).get("/approvals/requests/").context["page"]) == []


def test_the_request_list_pages_by_cursor_newest_first_with_each_request_once(client, cast, envs, v1):
    # Furniture made directly: 120 requests, more than two pages of 50, some sharing a creation time.
    moment = timezone.now()
    made = DeploymentRequest.objects.bulk_create(
        DeploymentRequest(version=v1, environment=envs.production, requester=cast.dana, justification="Bulk.",
                          state=RequestState.CANCELLED)
        for _ in range(120)
    )  # fmt: skip
    DeploymentRequest.objects.filter(pk__in=[r.pk for r in made[:40]]).update(created_at=moment)
    login(client, cast.vera)

    shown, response = [], client.get("/approvals/requests/?state=cancelled")
    assert "120" in text(response)
    while True:
        shown += [r.pk for r in response.context["page"]]
        link = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        if not link:
            break
        response = client.get("/approvals/requests/" + html.unescape(link.group(1)))
        assert "state=cancelled" in html.unescape(link.group(1))

    expected = DeploymentRequest.objects.order_by("-created_at", "-pk").values_list("pk", flat=True)
    assert shown == list(expected)


def test_a_bad_request_list_filter_is_named_and_left_out(client, cast, envs, v1, v2, trail):
    kept = request_production(cast, v1, envs)
    login(client, cast.vera)

    response = client.get("/approvals/requests/?version=abc")

    assert [r.pk for r in response.context["page"]] == [kept.pk]
    assert any(message.startswith("version:") for message in messages_of(response))


def test_step_names_on_the_request_page_come_from_the_frozen_copy(client, cast, envs, policy, pending):
    # Renaming the policy's steps after submission changes nothing on the request page.
    steps = [{"name": "Renamed review", "approver_kind": "role", "role": "approver", "quorum": 2},
             {"name": "Renamed sign-off", "approver_kind": "users", "users": [cast.bo], "quorum": 1}]  # fmt: skip
    services.policy_save(actor=Actor.of(cast.admin), policy=policy, name=policy.name, environment=envs.production,
                         risk_tiers=["high"], steps=steps)  # fmt: skip

    page = text(login(client, cast.rita).get(detail(pending)))

    assert MODEL_RISK_REVIEW in page and BUSINESS_SIGN_OFF in page
    assert "Renamed" not in page


def test_the_version_panel_lists_its_requests_to_those_who_may_see_them(client, cast, pending):
    url = f"/approvals/versions/{pending.version_id}/requests/"
    client.force_login(cast.vera)  # a viewer of the model's team

    shown = client.get(url)

    assert shown.status_code == 200
    assert f"/approvals/requests/{pending.pk}/" in shown.content.decode()
    client.force_login(cast.ben)  # another team: the request is not theirs to see
    hidden = client.get(url)
    assert hidden.status_code == 200
    assert f"/approvals/requests/{pending.pk}/" not in hidden.content.decode()
    assert "None yet." in hidden.content.decode()


def test_the_version_page_loads_the_panel_from_approvals_and_links_the_list_without_javascript(client, cast, pending):
    version = pending.version
    client.force_login(cast.dana)

    page = client.get(f"/models/{version.model.slug}/versions/{version.version}/").content.decode()

    assert f'hx-get="/approvals/versions/{version.pk}/requests/"' in page
    listing = client.get(f"/approvals/requests/?version={version.pk}")
    assert f"/approvals/requests/{pending.pk}/" in listing.content.decode()
    client.logout()
    assert client.get(f"/approvals/versions/{version.pk}/requests/").status_code == 302  # login required


@pytest.mark.parametrize("action", ["cancel", "submit"])
def test_only_the_requester_may_withdraw_or_submit_through_the_page(client, cast, pending, action):
    trail = Trail()
    client.force_login(cast.rita)  # may see and decide the request, but did not make it

    response = client.post(f"/approvals/requests/{pending.pk}/{action}/", follow=True)

    assert response.status_code == 200
    assert "Only the requester can" in response.content.decode()
    assert reload(pending).state == RequestState.PENDING
    assert trail.events() == []
    assert client.get(f"/approvals/requests/{pending.pk}/{action}/").status_code == 405


def test_the_requester_withdraws_through_the_page_with_a_reason_on_record(client, cast, pending):
    trail = Trail()
    client.force_login(cast.dana)

    client.post(f"/approvals/requests/{pending.pk}/cancel/", {"reason": "Found a data leak in training."})

    assert reload(pending).state == RequestState.CANCELLED
    (event,) = trail.events()
    assert event.action == "request.cancelled"
    assert event.changes["reason"] == [None, "Found a data leak in training."]


# --- the badge after a decision ---------------------------------------------------------------------------------------


def badge(response) -> str | None:
    """The Approvals badge's number in the page's navigation (#nav), None when it shows none."""
    nav = text(response).split('id="nav"')[1].split("</nav>")[0]
    found = re.search(r'id="approvals-badge"[^>]*>(\d+)</span>', nav)
    return found.group(1) if found else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("htmx", [False, True], ids=["form-post", "htmx"])
def test_the_page_after_a_decision_shows_the_updated_badge(client, cast, envs, v1, v2, trail, htmx):
    first, second = request_production(cast, v1, envs), request_production(cast, v2, envs)
    page = login(client, cast.rita).get(detail(first))
    assert badge(page) == "2"
    # htmx swaps only #request-body into the page: the form also asks for the navigation, badge and all.
    form = re.search(r'<form[^>]*action="[^"]*/decide/"[^>]*>', text(page)).group(0)
    assert 'hx-select-oob="#nav:innerHTML"' in form

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    step = first.steps.get(order=1)
    response = client.post(
        f"{detail(first)}decide/", {"outcome": "approve", "password": PASSWORD, "step": step.pk}, follow=True,
        **headers,
    )  # fmt: skip

    assert response.redirect_chain == [(detail(first), 302)]
    assert badge(response) == "1"
    home = client.get("/")
    assert badge(home) == "1"
    waiting = text(home).split('id="waiting"')[1].split("</section>")[0]
    assert f"#{second.pk}<" in waiting and f"#{first.pk}<" not in waiting


# --- small things a new user sees ---------------------------------------------------------------------------------


def test_the_policies_page_lists_policies_in_promotion_order_with_their_checks(client, cast, envs, policy):
    admin = Actor.of(cast.admin)
    steps = [{"name": "Review", "approver_kind": "role", "role": "approver", "quorum": 1, "requires_signature": False,
              "due_hours": 24}]  # fmt: skip
    for name, environment in (("Any environment", None), ("staging checks", envs.staging), ("Dev", envs.development)):
        services.policy_save(actor=admin, name=name, environment=environment, steps=steps, require_model_card=False,
                             require_digest=False)  # fmt: skip

    page = text(login(client, cast.vera).get("/approvals/policies/"))

    order = re.findall(r'<div class="card-header d-flex align-items-center gap-2">\s*<span>([^<]+)</span>', page)
    assert order == ["Dev", "staging checks", "Production high risk", "Any environment"]
    assert "Checks: model card · artifact digest · auc &gt;= 0.8." in html.escape(page, quote=False)
    assert "Checks: none." in page
    assert not re.search(r"·\s*</div>", page)


@pytest.mark.django_db(transaction=True)
def test_evidence_shows_lists_as_lists_and_no_threshold_column_when_no_policy_sets_one(client, cast, envs, v1, v2):
    """development is not protected: each request is approved at once, and the second one's evidence compares."""
    dana = Actor.of(cast.dana)
    services.request_deployment(actor=dana, version=v1, environment=envs.development, justification="First.")
    inventory.model_version_update(
        actor=dana, version=v2, training_data=["s3://lake/applications/2025.parquet", "snowflake://risk/bureau"]
    )
    request = services.request_deployment(actor=dana, version=v2, environment=envs.development, justification="Next.")

    page = text(login(client, cast.vera).get(detail(request)))

    metrics = page.split("Metrics against 1.0.0")[1].split("</table>")[0]
    assert "<th>Threshold</th>" not in metrics and "<th>Metric</th>" in metrics
    changes = page.split("Changes against")[1].split("</table>")[0]
    assert (
        '<ul class="value-list"><li>s3://lake/applications/2025.parquet</li><li>snowflake://risk/bureau</li></ul>'
        in changes
    )
    assert "['" not in page and "']" not in page


def test_the_request_page_has_a_threshold_column_when_its_policy_sets_thresholds(client, cast, envs, v2):
    request = request_production(cast, v2, envs)
    page = text(login(client, cast.vera).get(detail(request)))
    assert "<th>Threshold</th>" in page and "&gt;= 0.8" in html.escape(page, quote=False)


def test_a_request_in_one_state_reads_the_same_everywhere(client, cast, envs, v2):
    request = request_production(cast, v2, envs)
    client = login(client, cast.dana)
    for path in ("/", "/approvals/requests/", detail(request)):
        page = text(client.get(path))
        assert "Pending approval" in page, path
        assert not re.search(r">Pending<", page), path
