"""Request context: the request id, source and client address every audit event carries."""

import contextvars

import pytest
from django.db import transaction
from django.http import HttpResponse

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import Target, record
from apps.core import request_context
from apps.core.middleware import RequestContextMiddleware
from tests.conftest import PASSWORD

PROXIES = ["10.0.0.0/8"]


def recording_view(request):
    with transaction.atomic():
        event = record(action=Action.MODEL_UPDATED, actor=Actor.system("test"), target=Target("test.thing", 1))
    return HttpResponse(str(event.pk))


def through_middleware(request, view=recording_view):
    response = RequestContextMiddleware(view)(request)
    event = AuditEvent.objects.get(pk=int(response.content)) if view is recording_view else None
    return response, event


@pytest.mark.parametrize("value", ["ci-run-12345678", "0123456789abcdef0123456789abcdef", "a.b:c_d-e", "x" * 128])
def test_valid_request_ids_are_accepted(value):
    assert request_context.valid_request_id(value)


@pytest.mark.parametrize("value", [None, "", "short", "x" * 129, "has space here", "line\nbreak-123", "ünïcode-12345"])
def test_invalid_request_ids_are_refused(value):
    assert not request_context.valid_request_id(value)


def test_middleware_keeps_a_valid_incoming_request_id(db, rf):
    response, event = through_middleware(rf.get("/models/", HTTP_X_REQUEST_ID="ci-run-12345678"))
    assert response["X-Request-ID"] == "ci-run-12345678"
    assert event.context["request_id"] == "ci-run-12345678"


def test_middleware_replaces_an_invalid_incoming_request_id(db, rf):
    response, event = through_middleware(rf.get("/models/", HTTP_X_REQUEST_ID="evil\r\nSet-Cookie: x=1"))
    assert request_context.valid_request_id(response["X-Request-ID"])
    assert len(response["X-Request-ID"]) == 32
    assert event.context["request_id"] == response["X-Request-ID"]


def test_middleware_gives_each_request_its_own_id(db, rf):
    first, _ = through_middleware(rf.get("/models/"))
    second, _ = through_middleware(rf.get("/models/"))
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    ("path", "source"), [("/models/", "web"), ("/", "web"), ("/api/v1/models/", "api"), ("/hooks/github/", "webhook")]
)
def test_events_recorded_during_a_request_carry_its_source(db, rf, path, source):
    _, event = through_middleware(rf.post(path, HTTP_USER_AGENT="Mozilla/5.0 (test)", REMOTE_ADDR="192.0.2.10"))
    assert event.context == {
        "request_id": event.context["request_id"],
        "source": source,
        "client_ip": "192.0.2.10",
        "user_agent": "Mozilla/5.0 (test)",
    }


def test_events_recorded_behind_a_trusted_proxy_carry_the_forwarded_client_ip(db, rf, settings):
    settings.TRUSTED_PROXIES = PROXIES
    request = rf.get("/models/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7, 10.0.0.6")
    _, event = through_middleware(request)
    assert event.context["client_ip"] == "198.51.100.7"


def test_request_context_ends_with_the_request_even_when_the_view_fails(rf):
    outside = request_context.RequestContext(request_id="outer-context-1", source="command")

    def failing_view(request):
        assert request_context.get().source == "web"
        raise LookupError("the view failed")

    token = request_context.activate(outside)
    try:
        with pytest.raises(LookupError):
            RequestContextMiddleware(failing_view)(rf.get("/models/"))
        assert request_context.get() is outside
    finally:
        request_context.deactivate(token)


def test_outside_any_request_the_context_is_a_command(db):
    context = contextvars.Context().run(request_context.get)
    assert context.source == "command"
    assert request_context.valid_request_id(context.request_id)


def test_bind_overrides_fields_for_a_block_and_restores_them(db):
    def scenario():
        with request_context.bind(source="task") as task:
            assert request_context.get() is task and task.source == "task"
            assert request_context.valid_request_id(task.request_id)
            with request_context.bind(source="webhook", client_ip="192.0.2.1") as inner:
                assert (inner.request_id, inner.source, inner.client_ip) == (task.request_id, "webhook", "192.0.2.1")
            assert request_context.get() is task

    contextvars.Context().run(scenario)


def test_client_ip_is_remote_addr_without_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert request_context.client_ip(meta) == "10.0.0.5"


def test_client_ip_is_none_without_remote_addr(settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert request_context.client_ip({"HTTP_X_FORWARDED_FOR": "203.0.113.9"}) is None


def test_client_ip_behind_trusted_proxies_is_the_rightmost_untrusted_hop(settings):
    settings.TRUSTED_PROXIES = PROXIES
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.7, 10.0.0.6"}
    assert request_context.client_ip(meta) == "198.51.100.7"


def test_client_ip_never_takes_a_spoofed_leftmost_hop(settings):
    settings.TRUSTED_PROXIES = PROXIES
    # The client wrote "1.2.3.4" itself; the proxy appended the address it really saw.
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 198.51.100.7"}
    assert request_context.client_ip(meta) == "198.51.100.7"


def test_client_ip_behind_only_trusted_hops_is_the_proxy_peer(settings):
    settings.TRUSTED_PROXIES = PROXIES
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "10.1.1.1, 10.0.0.6"}
    assert request_context.client_ip(meta) == "10.0.0.5"


@pytest.mark.parametrize("header", ["garbage", "203.0.113.9, not-an-ip", "", " , ,", "999.1.1.1"])
def test_client_ip_falls_back_to_remote_addr_on_garbage_forwarded_for(settings, header):
    settings.TRUSTED_PROXIES = PROXIES
    assert request_context.client_ip({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": header}) == "10.0.0.5"


def test_client_ip_ignores_forwarded_for_from_an_untrusted_peer(settings):
    settings.TRUSTED_PROXIES = PROXIES
    meta = {"REMOTE_ADDR": "192.0.2.44", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert request_context.client_ip(meta) == "192.0.2.44"


def test_login_is_audited_with_the_request_id_of_its_response(client, cast):
    response = client.post(
        "/accounts/login/",
        {"username": "dana", "password": PASSWORD},
        HTTP_X_REQUEST_ID="login-req-00000001",
        HTTP_USER_AGENT="pytest-browser",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.USER_LOGGED_IN)
    assert (event.actor_id, event.actor_label, event.target_id) == (cast.dana.pk, "dana", str(cast.dana.pk))
    assert event.context == {
        "request_id": response["X-Request-ID"],
        "source": "web",
        "client_ip": "127.0.0.1",
        "user_agent": "pytest-browser",
    }
    assert response["X-Request-ID"] == "login-req-00000001"


def test_failed_login_is_audited_with_a_fresh_request_id(client, cast):
    response = client.post("/accounts/login/", {"username": "dana", "password": "wrong"})
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_kind, event.target_label) == ("user.login_failed", "system", "dana")
    assert event.context["request_id"] == response["X-Request-ID"]
    assert event.context["source"] == "web"
