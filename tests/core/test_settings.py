"""Production settings: refuse to start half-configured, and pass `check --deploy` when configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CACHE_URL")
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY="x" * 20 + "-a-long-random-production-secret", ALLOWED_HOSTS="govportal.example.com",
        CACHE_URL="redis://127.0.0.1:6379/9",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_no_cache_is_shared_between_processes():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY="x" * 20 + "-a-long-random-production-secret", ALLOWED_HOSTS="govportal.example.com",
    )  # fmt: skip
    assert result.returncode != 0
    assert "govportal.W001" in result.stderr + result.stdout
    assert "CACHE_URL is not set" in result.stderr + result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="govportal.example.com")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _manage("check", DEBUG="0", SECRET_KEY="y" * 60)
    assert result.returncode != 0
    assert "Set ALLOWED_HOSTS" in result.stderr


def test_malformed_boolean_setting_fails_loudly():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_celery_runs_tasks_in_process_without_a_broker():
    from govportal.celery import app

    if os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("a broker is configured for this run: tasks go to workers, as they should")
    assert app.conf.task_always_eager is True
    assert app.conf.task_acks_late is True


def test_a_task_run_in_process_prints_no_broker_warning():
    """Without a broker a task runs in-process and kombu has nothing to warn about (no "No hostname was supplied")."""
    probe = (
        "from govportal.celery import app\n"
        "@app.task(name='probe')\n"
        "def probe(x): return x + 1\n"
        "print(app.conf.broker_url, probe.delay(1).get())"
    )
    environ = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=environ | {"DEBUG": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "memory://localhost/ 2"
    assert "hostname" not in result.stderr and "WARNING" not in result.stderr, result.stderr


def test_the_portal_hashes_passwords_with_argon2():
    result = _manage(
        "shell", "-c", "from django.contrib.auth.hashers import make_password; print(make_password('s3cret-pass'))",
        DEBUG="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("argon2$argon2id$")


def test_every_scheduled_task_is_a_registered_task():
    from django.conf import settings

    from govportal.celery import app

    app.loader.import_default_modules()
    missing = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] not in app.tasks]
    assert missing == []
    assert len(settings.CELERY_BEAT_SCHEDULE) >= 3  # request expiry, checkpoints, export expiry


def test_postgresql_connections_run_without_jit_and_keep_the_pgoptions_given():
    """JIT compiling a large scan cost more than it saved (the deployments matrix: 575 ms with it, 304 without); the
    options the operator passes in PGOPTIONS still apply (CI's synchronous_commit=off, say)."""
    code = (
        "import django; django.setup(); from django.db import connection; c = connection.cursor(); "
        "c.execute('SHOW jit'); print(c.fetchone()[0]); c.execute('SHOW statement_timeout'); print(c.fetchone()[0])"
    )
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (CI always does)")
    environ = dict(
        os.environ, DEBUG="1", DJANGO_SETTINGS_MODULE="govportal.settings", PGOPTIONS="-c statement_timeout=4321"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["off", "4321ms"]
