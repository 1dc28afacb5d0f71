"""The CLI's tests: its package (clients/govportal_cli) importable, and no CI outputs or proxies leaking in.

The unit tests need no database; tests/clients/test_cli_e2e.py runs the CLI against the live portal.
"""

import sys
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
if str(CLIENTS) not in sys.path:
    sys.path.insert(0, str(CLIENTS))

# Variables of the machine (or of a CI run) that would change what the CLI does when it runs inside these tests.
LEAKY = (
    "GITHUB_OUTPUT", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GOVPORTAL_URL", "GOVPORTAL_TOKEN",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_cli_environment(monkeypatch):
    for name in LEAKY:
        monkeypatch.delenv(name, raising=False)
