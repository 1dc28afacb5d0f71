"""`manage.py load_demo` as a command: DEBUG and transaction guards, existing accounts, --force.

The loader signs decisions, which re-authenticates outside any transaction, so the tests that load
use `transactional_db`. What the demo contains is tested in test_demo_data.py.
"""

import re

import pytest
from django.contrib.auth import authenticate
from django.core.management.base import CommandError
from django.db import transaction

from apps.accounts.models import User
from apps.approvals.models import ApprovalPolicy, DeploymentRequest
from apps.audit.models import AuditEvent
from apps.demo import demo_data as demo
from apps.inventory.models import RegisteredModel

from .helpers import DEMO_SETTINGS, load_demo, row_counts


@pytest.fixture(autouse=True)
def demo_settings(settings):
    for name, value in DEMO_SETTINGS.items():
        setattr(settings, name, value)


def test_requests_are_not_loaded_when_a_signer_has_their_own_password(transactional_db):
    User.objects.create_user("rita", "rita@example.com", "her-own-password", first_name="Rita", last_name="Okafor")

    output = load_demo()

    assert "Deployment requests not loaded: rita sign" in output
    assert DeploymentRequest.objects.count() == 0
    assert ApprovalPolicy.objects.count() == len(demo.POLICIES)
    assert not AuditEvent.objects.filter(action="signature.failed").exists()


def test_refuses_to_run_inside_a_transaction(transactional_db):
    with pytest.raises(CommandError, match="outside any transaction"), transaction.atomic():
        load_demo()

    assert User.objects.count() == 0


def test_refuses_to_run_without_debug_and_writes_nothing(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match=r"runs only with DEBUG on.*--force"):
        load_demo()

    assert all(count == 0 for count in row_counts().values())


def test_force_loads_without_debug(transactional_db, settings):
    settings.DEBUG = False

    load_demo(force=True)

    assert RegisteredModel.objects.filter(name__in=[spec.name for spec in demo.MODELS]).count() == 12
    assert RegisteredModel.objects.filter(versions__source="git").distinct().count() == 2


def test_an_existing_admin_keeps_their_password(transactional_db):
    User.objects.create_superuser("admin", "ops@example.com", "their-own-password")

    output = load_demo()

    assert authenticate(username="admin", password="their-own-password") is not None
    assert re.search(r"^  admin .* \(own\)$", output, re.MULTILINE)
    assert User.objects.filter(username="admin").count() == 1


def test_refuses_a_non_superuser_admin_and_writes_nothing(transactional_db):
    User.objects.create_user("admin", "admin@example.com", "x")

    with pytest.raises(CommandError, match="'admin' exists but is not a superuser"):
        load_demo()

    assert User.objects.count() == 1
    assert AuditEvent.objects.count() == 0
