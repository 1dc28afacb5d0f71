"""Error pages are the portal's own: its layout and navigation, and the reason when there is one to give.

Tests run with DEBUG off (pytest-django's default), as production does: Django renders 400.html, 403.html,
404.html and 500.html rather than its debug pages.
"""

import html

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.views import defaults


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def reason(response) -> str:
    return text_of(response).split('id="error-reason">', 1)[1].split("</p>", 1)[0]


def test_tests_run_with_debug_off():
    assert settings.DEBUG is False


def test_a_403_from_a_page_shows_the_services_reason_in_the_layout(client, cast):
    client.force_login(cast.vera)  # a viewer: registers nothing
    response = client.get("/models/new/")
    assert response.status_code == 403
    text = text_of(response)
    assert "<h1>Not allowed</h1>" in text and "<title>Not allowed · GovPortal</title>" in text
    assert reason(response) == "You are not a contributor or admin of any team."
    assert 'id="nav"' in text and "<strong>Vera Tester</strong>" in text  # the navigation, as on every page
    assert f"request {response['X-Request-ID']}" in text


def test_every_403_reason_is_shown(client, cast):
    client.force_login(cast.vera)
    assert reason(client.get("/audit/")) == "The audit trail is open to auditors and team admins."
    assert reason(client.get("/repositories/new/")) == "Only team admins can add repositories."


def test_a_403_without_a_reason_says_so_plainly(rf, cast):
    request = rf.get("/somewhere/")
    request.user = cast.vera
    response = defaults.permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert reason(response) == "You do not have permission to do this."


def test_an_unknown_address_is_the_styled_404(client, cast):
    client.force_login(cast.dana)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    text = text_of(response)
    assert "<h1>Not found</h1>" in text and 'id="nav"' in text
    assert '<span class="mono">/no/such/page/</span>' in text


def test_a_404_for_someone_signed_out_offers_to_sign_in():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert 'id="nav"' not in text_of(response) and 'href="/accounts/login/"' in text_of(response)


def test_an_object_one_may_not_see_is_the_same_404(client, cast, models):
    client.force_login(cast.vera)  # Credit Risk only: Fraud's detector does not exist for her
    response = client.get(f"/models/{models.detector.slug}/")
    assert response.status_code == 404 and "<h1>Not found</h1>" in text_of(response)
    assert "RegisteredModel" not in text_of(response)  # no internals


def test_the_api_still_answers_404_with_a_problem(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_a_bad_request_django_refuses_is_the_styled_400(client, cast):
    response = client.get("/", headers={"host": "evil.example"})  # not in ALLOWED_HOSTS
    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in text_of(response)
    assert reason(response) == "The portal could not read this request."


def test_the_500_page_renders_without_the_database_or_a_request(rf):
    # No `db` fixture: any query would raise here. Django renders 500.html with no context at all.
    response = defaults.server_error(rf.get("/"))
    assert response.status_code == 500
    text = text_of(response)
    assert "<h1>Server error</h1>" in text and "bootstrap.min.css" in text and "portal.css" in text
    assert 'href="/"' in text


def test_a_view_that_fails_shows_the_500_page(client, cast, monkeypatch):
    from apps.dashboard import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "render", broken)
    client.force_login(cast.dana)
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 500
    assert "<h1>Server error</h1>" in text_of(response) and "boom" not in text_of(response)


def test_a_form_without_its_csrf_token_gets_the_portals_page_with_nothing_inline(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.dana)
    response = client.post("/models/new/", {"name": "Forged"})
    assert response.status_code == 403
    text = text_of(response)
    assert "<h1>Form expired</h1>" in text and 'id="nav"' in text
    assert "<style" not in text  # Django's own CSRF page styles itself inline, which the CSP would block
