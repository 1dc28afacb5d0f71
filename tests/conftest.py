"""The cast every test meets: two teams, people in each role, and a model per team.

Team A ("Credit Risk") holds dana (contributor), rita and sam (approvers), bo
(business-owner approver), audrey (auditor), vera (viewer) and alice (admin).
Team B ("Fraud") holds ben (admin) and only ben. `admin` is a superuser.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from apps.accounts.models import Membership, Role, Team, User
from apps.audit.actors import Actor
from apps.inventory import services as inventory

PASSWORD = "correct-horse-battery"
DIGEST = "a" * 64


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The cast signs in many times per test; Argon2 (the portal's hasher) would make the suite crawl.

    tests/core/test_settings.py checks that the portal itself hashes with Argon2.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Trail:
    """The audit events written after the trail was opened, oldest first."""

    def __init__(self):
        from django.db.models import Max

        from apps.audit.models import AuditEvent

        self.model = AuditEvent
        self.start = AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0

    def events(self, **filters):
        return list(self.model.objects.filter(sequence__gt=self.start, **filters).order_by("sequence"))

    def actions(self, **filters):
        return [event.action for event in self.events(**filters)]


TEST_SIGNING_KEY = None  # one Ed25519 key for the whole run, made on first use


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate limits and sign-in lockouts count in the cache: every test starts, and leaves, with none counted."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def signing_key(settings):
    """Every test signs with a throw-away key (tests run with DEBUG off: there is no development key)."""
    global TEST_SIGNING_KEY
    from apps.audit import signing

    TEST_SIGNING_KEY = TEST_SIGNING_KEY or signing.generate_pem().decode()
    settings.AUDIT_SIGNING_KEY = TEST_SIGNING_KEY
    signing.private_key.cache_clear()
    yield TEST_SIGNING_KEY
    signing.private_key.cache_clear()


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    """Export files go to the test's own directory, never to var/."""
    settings.AUDIT_EXPORT_DIR = tmp_path / "exports"
    return settings.AUDIT_EXPORT_DIR


@pytest.fixture(autouse=True)
def mirror_dir(settings, tmp_path):
    """Git mirrors (and the demo's repository, beside them) go to the test's own directory, never to var/."""
    settings.GITSYNC_MIRROR_DIR = tmp_path / "git-mirrors"
    return settings.GITSYNC_MIRROR_DIR


def pytest_configure():
    settings.AUDIT_ALLOW_FLUSH = True  # lets TransactionTestCase empty the append-only table between tests


# `make test` runs the suite in two processes (pytest-xdist, --dist loadgroup), each on its own test database (the
# suffix below). What cannot be shared or is costly to start twice runs in one process, a group at a time: the tests
# that empty and use the Redis databases named by CELERY_TEST_BROKER_URL and CACHE_TEST_URL, one Chromium, and the
# model servers, the GTO virtualenv and the demo data that a module or package starts once.
XDIST_GROUPS = {
    "tests/core/test_shared_cache.py": "redis",
    "tests/gitsync/test_worker.py": "redis",
    "tests/deployments/test_worker.py": "redis",
    "tests/browser/": "browser",
    "tests/deployments/test_mlflow.py": "mlflow",
    "tests/deployments/test_kserve.py": "kserve",
    "tests/demo/test_demo_data.py": "demo",
    "tests/gto_oracle/": "gto",
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Puts each item of XDIST_GROUPS in its group, as xdist's --dist loadgroup reads groups: a `@<group>` suffix on
    the node id. xdist 3.8 writes that suffix to `item._nodeid`, which pytest 9.2 no longer reads (node ids live in
    `item._id`), so its own `xdist_group` marks group nothing; tests/core/test_shared_cache.py checks that this does."""
    from _pytest.nodeid import NodeId

    if config.getvalue("dist") != "loadgroup" and not getattr(config.option, "loadgroup", False):
        return
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        group = next((name for prefix, name in XDIST_GROUPS.items() if path.startswith(prefix)), None)
        if group and not item.nodeid.endswith(f"@{group}"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per run (suffix = pid), so parallel runs on one machine never share or drop each other's."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"run{os.getpid()}")


def needs_postgres():
    """Skip (saying why) unless the suite runs on PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (CI always does)")


def make_user(username, **extra):
    user = User(
        username=username, first_name=username.title(), last_name="Tester", email=f"{username}@example.com", **extra
    )
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def cast(db):
    """Users, teams and roles, created directly (not audited: they are the test's furniture)."""
    team_a = Team.objects.create(name="Credit Risk", slug="credit-risk")
    team_b = Team.objects.create(name="Fraud", slug="fraud")
    people = {name: make_user(name) for name in ("dana", "rita", "sam", "bo", "audrey", "vera", "alice", "ben")}
    people["admin"] = make_user("admin", is_superuser=True, is_staff=True)
    roles = [
        ("dana", team_a, Role.CONTRIBUTOR), ("rita", team_a, Role.APPROVER), ("sam", team_a, Role.APPROVER),
        ("bo", team_a, Role.APPROVER), ("audrey", team_a, Role.AUDITOR), ("vera", team_a, Role.VIEWER),
        ("alice", team_a, Role.ADMIN), ("ben", team_b, Role.ADMIN),
    ]  # fmt: skip
    for name, team, role in roles:
        Membership.objects.create(user=people[name], team=team, role=role)

    class Cast:
        pass

    result = Cast()
    result.__dict__.update(people, team_a=team_a, team_b=team_b)
    return result


@pytest.fixture
def models(cast):
    """One model with two versions in each team, registered through the services (so audited)."""
    with transaction.atomic():
        scorecard = inventory.registered_model_register(
            actor=Actor.of(cast.dana), team=cast.team_a, name="Retail Scorecard", risk_tier="high",
            owners=[cast.dana], validator=cast.rita, tags=["credit"], intended_use="Retail credit decisions.",
        )  # fmt: skip
        for version in ("1.0.0", "1.1.0"):
            inventory.model_version_create(
                actor=Actor.of(cast.dana),
                model=scorecard,
                version=version,
                artifact_digest=DIGEST,
                metrics={"auc": 0.81},
            )
        detector = inventory.registered_model_register(
            actor=Actor.of(cast.ben),
            team=cast.team_b,
            name="Card Fraud Detector",
            risk_tier="critical",
        )
        inventory.model_version_create(actor=Actor.of(cast.ben), model=detector, version="3.0.0")

    class Models:
        pass

    result = Models()
    result.scorecard, result.detector = scorecard, detector
    return result


@pytest.fixture(autouse=True)
def allow_local_git(settings):
    """Tests build real repositories in temporary directories: local sources are on (tests of the rule turn it off)."""
    settings.GITSYNC_ALLOW_LOCAL = True


@pytest.fixture
def granted(cast):
    """Credentials a portal admin granted: github-acme (github.com) to Credit Risk, fraud-gh to Fraud (furniture)."""
    from apps.accounts.models import GrantedCredential

    github = GrantedCredential.objects.create(
        name="github-acme", reference="env:GITHUB_TOKEN", allowed_hosts=["github.com"]
    )
    github.teams.add(cast.team_a)
    fraud = GrantedCredential.objects.create(name="fraud-gh", reference="env:FRAUD_TOKEN", allowed_hosts=["github.com"])
    fraud.teams.add(cast.team_b)

    class Granted:
        pass

    result = Granted()
    result.github, result.fraud = github, fraud
    return result
