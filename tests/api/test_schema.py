"""The OpenAPI schema is served, valid and self-hosted; and the live API keeps to it (Schemathesis).

Schemathesis reads /api/schema/ from the WSGI app and sends every operation generated requests, valid and
invalid, as a service token holding every scope and as a signed-in team admin. Each response must not be a
server error, must use a documented status code and content type, and must match its documented schema.
"""

import re
from html import unescape as html_unescape

import jsonschema
import pytest
import schemathesis
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.views import APIView  # noqa: F401 — first: DRF's settings import apps.core.api, which imports it
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.models import TokenScope
from apps.core.api import PROBLEM_SCHEMA, PrincipalRateThrottle

SCHEMA_URL = "/api/schema/"
OPENAPI_JSON = {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}


@pytest.fixture
def openapi(db):
    response = Client().get(SCHEMA_URL, **OPENAPI_JSON)
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_served_as_openapi_3_with_an_operation_id_everywhere(openapi):
    assert openapi["openapi"].startswith("3.")
    operations = [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "patch", "post", "delete", "head", "options")
    ]
    assert operations and all(path.startswith("/api/v1/") for path, _, _ in operations)
    missing = [f"{method.upper()} {path}" for path, method, operation in operations if not operation.get("operationId")]
    assert missing == []
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_every_operation_documents_its_problem_responses_and_security(openapi):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            assert {"400", "401", "403", "429"} <= set(operation["responses"]), f"{method.upper()} {path}"
            assert {"serviceToken": []} in operation["security"], f"{method.upper()} {path}"


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


def test_swagger_ui_loads_its_assets_from_our_static_files(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), "a CDN host in the Swagger UI page"
    assets = re.findall(r"(?:src|href)=\"([^\"]+\.(?:js|css|png))\"", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/" + settings.STATIC_URL.lstrip("/")), asset
        assert finders.find(asset.removeprefix("/" + settings.STATIC_URL.lstrip("/"))), f"{asset} is not ours"
    # No inline script or style (the Content-Security-Policy refuses them): the init script is a URL of its own.
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=", html), "inline script or style"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    script_url = re.search(r'<script src="(/api/docs/\?script=[^"]*)"', html).group(1)
    script = Client().get(html_unescape(script_url))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert SCHEMA_URL in script.content.decode()


HOSTILE_QUERY_VALUES = {"nul": "%00", "not-utf8": "%ff%fe", "overlong": "x" * 10_000}


def operations_of(openapi):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "patch", "post", "delete"):
                yield path, method, operation


def test_every_operation_refuses_hostile_input_with_an_invalid_input_problem(openapi, cast):
    """What Schemathesis cannot send (it writes text as UTF-8 only), for every operation in the schema: a NUL, bytes
    that are not UTF-8 and a 10,000-character value in each query parameter, a NUL in the path and in a JSON body."""
    client = Client()
    client.force_login(cast.alice)
    failures = []

    def expect_invalid_input(method, url, **kwargs):
        response = client.generic(method.upper(), url, **kwargs)
        body = response.json() if response["Content-Type"] == "application/problem+json" else None
        if response.status_code != 400 or not body or body.get("code") != "invalid_input":
            failures.append(f"{method.upper()} {url[:120]}: {response.status_code} {response.content[:200]!r}")
            return
        jsonschema.validate(body, PROBLEM_SCHEMA)

    for path, method, operation in operations_of(openapi):
        url = re.sub(r"\{[^}]+\}", "1", path)
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"] + ["unknown"]
        for name in names:
            for value in HOSTILE_QUERY_VALUES.values():
                expect_invalid_input(method, f"{url}?{name}={value}")
        if "{" in path:
            expect_invalid_input(method, re.sub(r"\{[^}]+\}", "%00", path, count=1))
        if "requestBody" in operation:
            expect_invalid_input(method, url, data='{"name": "\\u0000", "x": ["\\u0000"]}',
                                 content_type="application/json")  # fmt: skip
    assert failures == [], "\n".join(failures)


# --- Schemathesis against the live schema ---------------------------------------------------------------------

# Per operation and principal. 15 took ~45 s on PostgreSQL for the 26 operations of the first API release; 10 leaves
# room for the operations still to come within the suite's one-minute budget for this test.
MAX_EXAMPLES = 10
# Strings an attacker sends: a NUL (PostgreSQL cannot store or compare it) alone and inside text, and a value far
# longer than any field. Schemathesis puts them in place of generated strings (query, path, body). It sends text as
# UTF-8 only, so bytes that are not UTF-8 are sent by test_every_operation_refuses_hostile_input_... above.
HOSTILE_STRINGS = ["\x00", "credit\x00risk", "x" * 10_000]
CONFIG = {
    "seed": 20261127,  # the same requests every run: a CI gate that fails means a real change, not bad luck
    "dictionaries": {"hostile": {"values": HOSTILE_STRINGS}},
    "generation": {
        "mode": "all",  # valid requests (must be accepted) and invalid ones (must be refused with a 4xx)
        "database": "none",  # no saved failing examples: a run depends on the seed and the code alone
        # Credentials come from the test (a real token, a real session): Schemathesis must not invent any.
        "with-security-parameters": False,
        "dictionaries": {"string": {"dictionary": "hostile", "probability": 0.2}},
    },
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def session_credentials(user) -> dict:
    """A signed-in browser's cookies, and the CSRF header DRF's SessionAuthentication wants on unsafe methods."""
    from django.middleware.csrf import _get_new_csrf_string

    client = Client()
    client.force_login(user)
    csrf = _get_new_csrf_string()
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
               settings.CSRF_COOKIE_NAME: csrf}  # fmt: skip
    return {"headers": {"X-CSRFToken": csrf}, "cookies": cookies}


@pytest.fixture(params=["token", "session"])
def principal(request, cast, models, token_for, monkeypatch):
    """Who the run is: the headers and cookies sent with every request.

    token: a service account of team A holding every scope. session: alice, team A's admin, signed in, sending
    the CSRF cookie and header as the portal's pages do, so unsafe methods are exercised as a person too.
    """
    # The run sends hundreds of requests a minute from one principal: the rate limit is not what is tested here.
    monkeypatch.setattr(PrincipalRateThrottle, "allow_request", lambda self, request, view: True)
    if request.param == "token":
        _, plaintext = token_for(TokenScope.values, team="a")
        return {"name": "token", "headers": {"Authorization": f"Bearer {plaintext}"}, "cookies": {}}
    return {"name": "session", **session_credentials(cast.alice)}


def test_the_runs_credentials_are_accepted(principal):
    """Guards the run below: were its credentials refused, every operation would pass on documented 401s/403s."""
    client = Client(enforce_csrf_checks=True)
    for name, value in principal["cookies"].items():
        client.cookies[name] = value
    headers = principal["headers"]
    assert client.get("/api/v1/audit/events/", headers=headers).status_code == 200
    export = client.post("/api/v1/audit/exports/", {"format": "csv"}, content_type="application/json", headers=headers)
    # A session passes CSRF and exports; a token is refused for what it is, not for CSRF.
    assert export.status_code == (202 if principal["name"] == "session" else 403), export.content
    if principal["name"] == "token":
        assert "API tokens cannot export" in export.json()["detail"]


@pytest.fixture
def api_schema(request, transactional_db, settings, principal):
    """The schema as the WSGI app serves it, for Schemathesis to call the same app in-process.

    Real transactions (transactional_db): each request commits as in production, so a service that forgets its
    own transaction.atomic(), or work deferred to on_commit, shows up here.
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # Schemathesis 4.32 relabels the test node per operation through `_nodeid`, which pytest 9.2 no longer has.
    request.node._nodeid = request.node.nodeid
    settings.SECURE_SSL_REDIRECT = False  # plain http://testserver, as with Django's test client
    # As Django's test client does: keep the test's database connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        config = schemathesis.Config.from_dict(CONFIG)
        yield schemathesis.openapi.from_wsgi(SCHEMA_URL, WSGIHandler(), config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@hypothesis_settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@schema.parametrize()
def test_the_api_keeps_to_its_schema(case, principal):
    """Every operation, as each principal: no 5xx; documented status codes, content types and bodies."""
    case.call_and_validate(
        base_url="http://testserver", headers=principal["headers"], cookies=principal["cookies"], checks=CHECKS
    )


def test_search_and_ordering_are_documented_only_where_they_do_something(openapi):
    """A documented `search` must search some field, and a documented `ordering` order by some field."""
    from django.urls import resolve

    offered = {}
    for path, item in openapi["paths"].items():
        parameters = {p["name"] for operation in item.values() if isinstance(operation, dict)
                      for p in operation.get("parameters", []) if p.get("in") == "query"}  # fmt: skip
        view = resolve(re.sub(r"\{[^}]+\}", "1", path)).func.cls
        filters = getattr(getattr(view, "filterset_class", None), "base_filters", {})
        if "search" in parameters:
            searches = getattr(view, "search_fields", None) or "search" in filters
            assert searches, f"{path} documents `search` but searches nothing"
        if "ordering" in parameters:
            orders = getattr(view, "ordering_fields", None) or "ordering" in filters
            assert orders, f"{path} documents `ordering` but orders by nothing"
        offered[path] = parameters
    assert "search" not in offered["/api/v1/deployments/observations/"]
    assert {"search", "ordering"}.isdisjoint(offered["/api/v1/deployments/statuses/"])
    assert "search" in offered["/api/v1/models/"]  # where it does search, it stays documented
