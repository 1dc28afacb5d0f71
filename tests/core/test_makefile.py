"""`make run` on another host or port: links in e-mails, reports and the webhook URL follow it (PORTAL_BASE_URL)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args, **env) -> str:
    """What `make run` would do (make -n prints the recipes, running none of them)."""
    environ = {key: value for key, value in os.environ.items() if key != "PORTAL_BASE_URL"} | env
    result = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_on_another_port_gives_the_portal_that_address():
    output = dry_run("PORT=8123")
    assert "PORTAL_BASE_URL=http://127.0.0.1:8123)" in output
    assert "manage.py runserver 127.0.0.1:8123" in output
    assert "PORTAL_BASE_URL=http://10.0.0.5:9000)" in dry_run("HOST=10.0.0.5", "PORT=9000")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_an_explicit_portal_base_url_wins():
    assert "PORTAL_BASE_URL=https://govportal.example.com)" in dry_run(
        "PORT=8123", PORTAL_BASE_URL="https://govportal.example.com"
    )
