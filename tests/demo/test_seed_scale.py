"""`manage.py seed_scale`: benchmark-sized inventories, fast, with every object audited in a chain that verifies,
seen by the demo cast through their demo roles; refused with DEBUG off unless --force."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from apps.accounts.models import Membership, User
from apps.audit.models import AuditEvent
from apps.audit.verification import verify_chain
from apps.inventory import selectors
from apps.inventory.models import ModelVersion, RegisteredModel

from .helpers import DEMO_SETTINGS


@pytest.fixture
def demo_settings(settings):
    for key, value in DEMO_SETTINGS.items():
        setattr(settings, key, value)
    return settings


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_scale", *args, stdout=out)
    return out.getvalue()


def test_it_seeds_the_shape_asked_for_each_object_with_its_event_in_a_chain_that_verifies(db, demo_settings):
    output = seed("--models", "7", "--versions-per-model", "3", "--teams", "2")

    assert "Seeded 7 models and 21 versions in 2 teams" in output
    assert RegisteredModel.objects.count() == 7 and ModelVersion.objects.count() == 21
    tags = RegisteredModel.objects.annotate(n=Count("tags")).values_list("n", flat=True)
    assert set(tags) == {2}
    actions = dict(AuditEvent.objects.values_list("action").annotate(n=Count("pk")))
    assert actions["model.registered"] == 7 and actions["version.created"] == 21 and actions["team.created"] == 2
    assert actions["role.granted"] == Membership.objects.count()
    assert actions["user.created"] == User.objects.count()  # the demo cast, made because it was missing
    assert verify_chain().ok
    for model in RegisteredModel.objects.select_related("latest_version"):
        newest = model.versions.order_by("-created_at", "-pk").first()
        assert (model.version_count, model.latest_version) == (3, newest)


def test_the_demo_cast_sees_the_seeded_models_through_their_demo_roles(db, demo_settings):
    seed("--models", "6", "--versions-per-model", "1", "--teams", "3")

    def visible(name):
        return selectors.registered_model_list(user=User.objects.get(username=name), per_page=100).count

    assert visible("dana") == visible("rita") == visible("audrey") == 6  # in every team, as in the demo
    assert visible("omar") == visible("lena") == visible("tom") == 2  # each the admin of one team in three


def test_a_second_run_with_the_same_prefix_is_refused_and_writes_nothing(db, demo_settings):
    seed("--models", "2", "--versions-per-model", "1")
    before = (RegisteredModel.objects.count(), AuditEvent.objects.count())

    with pytest.raises(CommandError, match="pass another --prefix"):
        seed("--models", "2", "--versions-per-model", "1")

    assert (RegisteredModel.objects.count(), AuditEvent.objects.count()) == before
    seed("--models", "2", "--versions-per-model", "1", "--prefix", "More")
    assert RegisteredModel.objects.count() == 4 and verify_chain().ok


@pytest.mark.parametrize("args", [["--models", "0", "--versions-per-model", "1"],
                                  ["--models", "3", "--versions-per-model", "-1"]])  # fmt: skip
def test_a_bad_size_is_refused_and_writes_nothing(db, demo_settings, args):
    with pytest.raises(CommandError, match="at least"):
        seed(*args)

    assert not AuditEvent.objects.exists() and not RegisteredModel.objects.exists()


def test_it_refuses_with_debug_off_unless_forced(db, demo_settings):
    demo_settings.DEBUG = False

    with pytest.raises(CommandError, match=r"runs only with DEBUG on.*--force"):
        seed("--models", "1", "--versions-per-model", "1")
    assert not AuditEvent.objects.exists()

    seed("--models", "1", "--versions-per-model", "1", "--force")
    assert RegisteredModel.objects.count() == 1
