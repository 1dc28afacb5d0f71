"""Every page a signed-in administrator can reach answers hostile query values with a 400 or ignores them: never a 500.

The crawler signs in as the superuser over a small portal (the cast, their models, environments, a policy, a
deployment request, an export), follows the site's own links from the home page, and collects each page's query
parameters: the fields of its GET forms and the keys of links back to it. Then every page is sent, for each of
its parameters (and one it does not know), a NUL byte, a 10,000-character value, bytes that are not UTF-8, a
digit that is not ASCII and a number too large for any id.
"""

import html
import re
from collections import defaultdict, deque
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.db import transaction
from django.test import Client

from apps.approvals import services as approvals
from apps.audit.actors import Actor
from apps.compliance.exports import services as exports
from apps.compliance.exports.filters import AuditFilters
from apps.inventory import services as inventory

MAX_PAGES = 120
# Links the crawler does not follow: what they do is not a page (downloads, sign-out), or admin pages past the
# first level (Django's own, each admin list works the same way; the index and each list are crawled).
SKIP = re.compile(r"^/(static/|accounts/logout|audit/exports/[^/]+/(download|manifest)|admin/.+/.+/.+)")
HOSTILE = {
    "nul": "%00",
    "overlong": "x" * 10_000,
    "not-utf8": "%ff%fe",
    # Not refused as such, but each once reached a 500: "²".isdigit() is true yet int("²") fails; an id past a bigint.
    "unicode-digit": "%C2%B2",
    "huge-number": "9" * 30,
}
POLICY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "object-src": "'none'", "base-uri": "'self'", "frame-ancestors": "'none'", "form-action": "'self'",
}  # fmt: skip
# What that policy blocks in a page: a <script> without src, a <style> element, style="" and on…="" attributes.
INLINE = re.compile(r"<script\b(?![^>]*\ssrc=)[^>]*>|<style\b|<[^>]+\s(?:style|on[a-z]+)\s*=", re.I)
LINK = re.compile(r"""<a\s[^>]*href="([^"#]*)""")
FORM = re.compile(r"""<form\b([^>]*)>(.*?)</form>""", re.S)
FIELD = re.compile(r"""<(?:input|select|textarea)\b[^>]*\bname="([^"]+)\"""")


@pytest.fixture
def portal(cast, models):
    """The cast's models with environments, a production policy, a development request and a finished export."""
    admin = Actor.of(cast.admin)
    with transaction.atomic():
        development = inventory.environment_save(actor=admin, name="development", order=10, protected=False)
        production = inventory.environment_save(actor=admin, name="production", order=30, protected=True)
        approvals.policy_save(
            actor=admin, name="Production high risk", environment=production, risk_tiers=["high"],
            steps=[{"name": "Model risk review", "approver_kind": "role", "role": "approver", "quorum": 1,
                    "requires_signature": False, "due_hours": 72}],
        )  # fmt: skip
        version = models.scorecard.versions.get(version="1.1.0")
        approvals.request_deployment(
            actor=Actor.of(cast.dana), version=version, environment=development, justification="Try it."
        )
    export = exports.export_start(actor=admin, format="csv", filters=AuditFilters())
    b"".join(exports.export_stream(export))
    return cast


def crawl(client: Client) -> dict[str, set[str]]:
    """{path: its known query parameters} for every page reachable from the home page (breadth first) that shows."""
    params: dict[str, set[str]] = defaultdict(set)
    visited: list[str] = []
    shown: list[str] = []
    queue = deque(["/"])
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        if path in visited:
            continue
        visited.append(path)
        response = client.get(path)
        assert response.status_code < 500, f"GET {path} is a {response.status_code}"
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        shown.append(path)
        text = response.content.decode()
        for attributes, body in FORM.findall(text):
            if 'method="get"' not in attributes.lower():
                continue
            action = re.search(r'action="([^"]*)"', attributes)
            target = urlsplit(urljoin(path, html.unescape(action.group(1)) if action else path)).path
            params[target].update(FIELD.findall(body))
            queue.append(target)
        for href in LINK.findall(text):
            url = urlsplit(urljoin(path, html.unescape(href)))
            if url.netloc or not url.path.startswith("/") or SKIP.match(url.path):
                continue
            params[url.path].update(key for key, _ in parse_qsl(url.query, keep_blank_values=True))
            queue.append(url.path)
    return {path: params[path] for path in shown}


def test_the_crawler_reaches_every_part_of_the_portal(client, portal):
    client.force_login(portal.admin)
    pages = crawl(client)
    for expected in ("/", "/models/", "/approvals/", "/approvals/requests/", "/approvals/policies/", "/audit/",
                     "/audit/exports/", "/teams/", "/repositories/", "/admin/"):  # fmt: skip
        assert expected in pages, sorted(pages)
    assert any(path.startswith("/models/retail-scorecard/versions/") for path in pages)
    assert {"q", "team", "risk", "status"} <= pages["/models/"]
    assert {"actor", "action", "date_from"} <= pages["/audit/"]


def test_no_page_answers_hostile_query_values_with_a_server_error(portal):
    client = Client(raise_request_exception=False)
    client.force_login(portal.admin)
    pages = crawl(client)
    failures = []
    for path, keys in sorted(pages.items()):
        for key in sorted(keys | {"unknown"}):
            for name, value in HOSTILE.items():
                response = client.get(f"{path}?{key}={value}")
                if response.status_code not in (200, 302, 400):
                    failures.append(f"GET {path}?{key}=<{name}>: {response.status_code}")
                elif response.status_code == 400 and 'id="nav"' not in response.content.decode():
                    failures.append(f"GET {path}?{key}=<{name}>: a 400 outside the portal's layout")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("value", ["%00", "x" * 10_000, "%ff%fe"], ids=["nul", "overlong", "not-utf8"])
def test_a_hostile_value_in_a_parameter_name_is_refused_too(client, portal, value):
    client.force_login(portal.admin)
    response = client.get(f"/models/?{value}=1")
    assert response.status_code == 400


def test_every_page_has_the_content_security_policy_and_nothing_inline_that_it_blocks(client, portal):
    client.force_login(portal.admin)
    signed_out = Client()
    pages = [(client, path) for path in [*sorted(crawl(client)), "/api/docs/", "/no/such/page/", "/models/?q=%00"]]
    for who, path in [*pages, (signed_out, "/accounts/login/"), (signed_out, "/accounts/login/?next=%00")]:
        response = who.get(path)
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy == POLICY, path  # no 'unsafe-inline' or 'unsafe-eval' anywhere, the admin included
        inline = INLINE.search(response.content.decode())
        assert inline is None, f"{path}: {inline and inline.group(0)}"


# A time written out as ISO 8601: what a template shows without the ts filter (a raw datetime, `|date:"c"`, "…Z UTC").
RAW_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\dZ UTC")
# What is not shown as a time of the page's own: tags (a <time datetime> attribute is ISO on purpose), and the raw
# record behind a <pre> or <code>.
NOT_SHOWN = re.compile(r"<(pre|code|script)\b.*?</\1>|<[^>]+>", re.S)


def test_every_page_shows_times_in_the_one_time_format(client, portal):
    client.force_login(portal.admin)
    pages = [path for path in sorted(crawl(client)) if not path.startswith("/admin/")]
    raw = {}
    for path in pages:
        shown = html.unescape(NOT_SHOWN.sub(" ", client.get(path).content.decode()))
        if found := RAW_TIME.search(shown):
            raw[path] = shown[max(0, found.start() - 60) : found.end() + 20]
    assert raw == {}
    assert len(pages) > 20
