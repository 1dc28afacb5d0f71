"""Inventory test helpers: a fast password hasher and a view of the audit events a test writes."""

import pytest
from django.db.models import Max

from apps.audit.models import AuditEvent


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The cast signs in nine people per test; Argon2 would make the suite crawl.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Trail:
    """The audit events written after the trail was opened, oldest first."""

    def __init__(self):
        self.start = AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0

    def events(self):
        return list(AuditEvent.objects.filter(sequence__gt=self.start).order_by("sequence"))

    def actions(self):
        return [event.action for event in self.events()]


@pytest.fixture
def trail(models):
    """Opened once the cast and their models exist, so only the test's own events show."""
    return Trail()
