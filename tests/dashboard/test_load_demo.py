"""`manage.py load_demo`: the demo inventory, made through the services, audited, and safe to re-run."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from guardian.models import UserObjectPermission

from apps.accounts.models import Membership, Team, User
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from apps.dashboard import demo_data as demo
from apps.inventory.models import (
    AIActCategory,
    Lifecycle,
    ModelVersion,
    RegisteredModel,
    RegisteredModelUserObjectPermission,
    RiskTier,
    Tag,
)

CAST = ("admin", "dana", "rita", "sam", "bo", "audrey")
SECTIONS = ("Model details", "Intended use", "Training data", "Evaluation", "Ethical considerations", "Caveats")


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.DEBUG = True  # pytest-django turns DEBUG off; the command refuses to run without it
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # eleven users: keep it fast
    settings.GOVPORTAL_DEMO_PASSWORD = "demo-pass-for-tests"


def load_demo(**options) -> str:
    out = StringIO()
    call_command("load_demo", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict:
    tables = (
        User, Team, Membership, RegisteredModel, ModelVersion, Tag, AuditEvent,
        RegisteredModelUserObjectPermission, UserObjectPermission,
    )  # fmt: skip
    return {table.__name__: table.objects.count() for table in tables}


def test_load_demo_builds_an_inventory_across_teams_tiers_and_statuses(db):
    load_demo()

    assert Team.objects.count() >= 3
    models = list(RegisteredModel.objects.prefetch_related("versions", "owners"))
    assert len(models) == 12
    assert {model.risk_tier for model in models} == set(RiskTier.values)
    assert {model.lifecycle_status for model in models} == set(Lifecycle.values)
    assert {model.eu_ai_act_category for model in models} >= set(AIActCategory.values) - {"unacceptable"}
    assert len({model.team_id for model in models}) >= 3
    today = timezone.now().date()
    assert any(model.validation_overdue(today) for model in models)
    assert any(model.next_validation_due and model.next_validation_due > today for model in models)
    for model in models:
        assert 3 <= len(model.versions.all()) <= 8, model.name
        assert model.validator not in model.owners.all(), model.name


def test_every_version_carries_an_artifact_lineage_and_a_model_card(db):
    load_demo()

    for spec in demo.MODELS:
        versions = {version.version: version for version in ModelVersion.objects.filter(model__name=spec.name)}
        assert sorted(versions) == sorted(spec.versions)
        for index, name in enumerate(spec.versions):
            version = versions[name]
            assert re.fullmatch(r"[0-9a-f]{64}", version.artifact_digest)
            assert re.fullmatch(r"[0-9a-f]{40}", version.git_commit_sha)
            assert version.artifact_uri.startswith(f"s3://ml-artifacts/{spec.slug}/{name}/")
            assert version.framework in {"sklearn", "xgboost", "lightgbm", "pytorch", "transformers"}
            assert version.metrics and version.parameters and version.training_data
            assert version.parent == (versions[spec.versions[index - 1]] if index else None)
            assert all(f"## {section}" in version.model_card for section in SECTIONS)
            assert "| Metric | Value | Previous |" in version.model_card
    digests = ModelVersion.objects.values_list("artifact_digest", flat=True)
    assert len(set(digests)) == len(digests)


def test_the_cast_signs_in_with_the_demo_password(db):
    load_demo()

    for username in CAST:
        user = authenticate(username=username, password="demo-pass-for-tests")
        assert user is not None, username
        assert user.get_full_name() and user.email == f"{username}@example.com"
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.filter(is_superuser=True).exclude(username="admin").exists()
    teams = Team.objects.count()
    assert Membership.objects.filter(user__username="dana", role="contributor").count() == teams
    assert Membership.objects.filter(user__username="audrey", role="auditor").count() == teams
    for approver in ("rita", "sam", "bo"):
        assert Membership.objects.filter(user__username=approver, role="approver").exists()


def test_a_second_run_writes_no_rows_and_no_audit_events(db):
    load_demo()
    before, head = row_counts(), ChainHead.objects.get().sequence

    output = load_demo()

    assert row_counts() == before
    assert ChainHead.objects.get().sequence == head
    assert "0 teams, 0 users, 0 models, 0 versions and 0 audit events" in output


def test_the_audit_chain_verifies_after_loading(db):
    load_demo()

    result = verify_chain()
    assert result.ok, str(result)
    assert result.count == AuditEvent.objects.count() > 100
    call_command("audit_verify", stdout=StringIO())  # exits 0: raises CommandError otherwise


def test_the_audit_trail_names_who_did_what(db):
    load_demo()
    events = AuditEvent.objects.order_by("sequence")
    dana, kenji = User.objects.get(username="dana"), User.objects.get(username="kenji")

    scorecard = events.get(action="model.registered", target_label="Retail Credit Scorecard")
    assert (scorecard.actor_id, scorecard.actor_kind) == (dana.pk, "user")
    assert events.get(action="model.registered", target_label="Card Transaction Fraud Detector").actor_id == kenji.pk
    expected = {
        f"{spec.name} {version}": demo.version_author(spec, index)
        for spec in demo.MODELS
        for index, version in enumerate(spec.versions)
    }
    created = {event.target_label: event.actor_label for event in events.filter(action="version.created")}
    assert created == expected
    assert {event.actor_label for event in events.filter(action="team.created")} == {"admin"}
    users_created = events.filter(action="user.created")
    assert {(event.actor_kind, event.actor_label, event.actor_id) for event in users_created} == {
        ("system", "load_demo", None)
    }
    assert events.filter(action="model.lifecycle_changed", target_label="Collections Prioritisation").count() == 3
    assert events.filter(action="permission.granted", actor_label="lena").count() == 1
    contexts = {(event.context["source"], event.context["request_id"]) for event in events}
    assert len(contexts) == 1 and next(iter(contexts))[0] == "command"


def test_the_output_lists_the_logins_and_what_was_created(db):
    output = load_demo()

    for username in CAST:
        assert re.search(rf"^  {username} .* demo-pass-for-tests$", output, re.MULTILINE), username
    assert "Dana Whitfield" in output and "contributor (all teams)" in output
    assert (
        f"Created {Team.objects.count()} teams, {User.objects.count()} users, 12 models, "
        f"{ModelVersion.objects.count()} versions and {AuditEvent.objects.count()} audit events." in output
    )


def test_refuses_to_run_without_debug_and_writes_nothing(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match=r"runs only with DEBUG on.*--force"):
        load_demo()

    assert all(count == 0 for count in row_counts().values())


def test_force_loads_without_debug(db, settings):
    settings.DEBUG = False

    load_demo(force=True)

    assert RegisteredModel.objects.count() == 12


def test_an_existing_admin_keeps_their_password(db):
    User.objects.create_superuser("admin", "ops@example.com", "their-own-password")

    output = load_demo()

    assert authenticate(username="admin", password="their-own-password") is not None
    assert re.search(r"^  admin .* \(own\)$", output, re.MULTILINE)
    assert User.objects.filter(username="admin").count() == 1


def test_refuses_a_non_superuser_admin_and_writes_nothing(db):
    User.objects.create_user("admin", "admin@example.com", "x")

    with pytest.raises(CommandError, match="'admin' exists but is not a superuser"):
        load_demo()

    assert User.objects.count() == 1
    assert AuditEvent.objects.count() == 0
