"""Real-browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live server.

Chromium comes from Debian (`apt-get install -y chromium`), never from `playwright install`.
When Chromium or the `playwright` package is missing the tests skip and say how to install
them; in CI (`CI` set, e.g. `CI=true`) they fail instead, so a broken image cannot pass silently.
"""

import importlib.util
import os

import pytest

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = "install them with `apt-get install -y chromium` and `pip install -r requirements.txt`"
TIMEOUT_MS = 10_000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_requirements() -> list[str]:
    """What the browser tests need and this machine lacks (empty when they can run)."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the `playwright` Python package")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM}")
    return missing


def require_browser() -> None:
    """Skip with an install hint when something is missing; fail instead in CI, which must run these tests."""
    missing = missing_requirements()
    if not missing:
        return
    message = f"browser tests need {' and '.join(missing)}: {INSTALL_HINT}"
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package", autouse=True)
def allow_async_unsafe():
    """Playwright's sync API keeps an asyncio loop on the main thread, which trips Django's async-safety check
    on every ORM call the test makes; DJANGO_ALLOW_ASYNC_UNSAFE is Django's documented switch for that.
    Set for this package only and restored afterwards, so the rest of the suite keeps the check."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(allow_async_unsafe):
    """One headless Chromium for the package; stopped after it, so no asyncio loop outlives the browser tests."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # Every person signs in and re-enters their password to sign; Argon2 would only slow the test down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def new_context(browser, live_server):
    """Open a fresh browser context (own cookies: one person each) against the live server; closed after the test."""
    contexts = []

    def open_context():
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def login(new_context):
    """Sign `username` in through the login page in their own context; returns the signed-in page."""

    def sign_in(username: str, password: str = PASSWORD):
        page = new_context().new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return sign_in
