"""Accounts tests: a view of the audit events each test writes (Trail, from tests/conftest.py)."""

import pytest

from tests.conftest import Trail


@pytest.fixture
def trail(models):
    """Opened once the cast and their models exist, so only the test's own events show."""
    return Trail()
