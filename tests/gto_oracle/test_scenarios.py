"""Repositories built with the `gto` command line, synced by the portal after each chapter, and compared with what
`gto show` (with and without -d, for the registry and for each artifact) answers. The known disagreements come first."""

import json
import subprocess

import pytest

from apps.gitsync.models import Trigger
from apps.inventory.models import RegisteredModel
from tests.deployments import servers

from .compare import assert_same, sync
from .story import commit, git, gto, tick

pytestmark = pytest.mark.django_db


def test_a_stage_held_by_a_deregistered_version_goes_back_to_the_version_that_held_it_before(story):
    story.chapter(commit(), gto("register", "churn", "--version", "v1.0.0"), gto("assign", "churn", "--stage", "prod"))
    story.chapter(commit(), gto("register", "churn", "--bump-minor"), gto("assign", "churn", "HEAD", "--stage", "prod"))
    assert (story.version("churn", "v1.0.0").stages, story.version("churn", "v1.1.0").stages) == ([], ["prod"])

    answers = story.chapter(gto("deprecate", "churn", "v1.1.0"))  # deregisters the version

    assert answers["registry"]["churn"]["stage"]["prod"] == "v1.0.0"
    withdrawn = story.version("churn", "v1.1.0")
    assert (withdrawn.deregistered, withdrawn.stages) == (True, [])
    assert story.version("churn", "v1.0.0").stages == ["prod"]


def test_a_deprecated_model_is_active_again_once_a_new_version_is_registered(story):
    story.chapter(commit(), gto("register", "churn"), gto("deprecate", "churn"))
    assert RegisteredModel.objects.get(name="churn").tags.filter(name="deprecated").exists()

    answers = story.chapter(commit(), gto("register", "churn"))

    assert answers["registry"]["churn"]["active"] is True
    assert list(RegisteredModel.objects.get(name="churn").tags.values_list("name", flat=True)) == []


def test_any_later_event_revives_a_deprecated_model_and_a_new_deprecation_ends_it(story):
    story.chapter(commit(), gto("register", "churn"), gto("register", "fraud"), gto("deprecate", "churn"))
    story.chapter(gto("assign", "churn", "--version", "v0.0.1", "--stage", "dev"), gto("deprecate", "fraud"))
    story.chapter(gto("deprecate", "churn", "v0.0.1", "dev"))  # unassigning is an event too
    story.chapter(gto("deprecate", "churn", "--simple", "false"), gto("deprecate", "fraud", "v0.0.1"))
    assert RegisteredModel.objects.get(name="churn").tags.filter(name="deprecated").exists()
    assert not RegisteredModel.objects.get(name="fraud").tags.filter(name="deprecated").exists()


def test_several_artifacts_stages_and_one_commit_tagged_many_times(story):
    story.chapter(
        commit(), gto("register", "churn"), gto("register", "fraud"), gto("register", "ltv/scorer"),
        gto("assign", "churn", "--version", "v0.0.1", "--stage", "dev"),
        gto("assign", "churn", "--version", "v0.0.1", "--stage", "staging"),
        gto("assign", "fraud", "HEAD", "--stage", "prod"),
    )  # fmt: skip
    story.chapter(
        commit(), gto("register", "churn", "--bump-major"), gto("assign", "churn", "HEAD", "--stage", "staging"),
        gto("assign", "churn", "HEAD", "--stage", "prod"),
        gto("assign", "churn", "--version", "v0.0.1", "--stage", "prod"),
        gto("assign", "fraud", "HEAD", "--stage", "dev"),  # registers fraud's next version on the way
    )  # fmt: skip
    assert story.version("churn", "v0.0.1").stages == ["dev", "prod"]
    assert story.version("churn", "v1.0.0").stages == ["staging"]


def test_unassigning_a_stage_gives_it_back_and_reregistering_brings_the_stages_back(story):
    story.chapter(commit(), gto("register", "churn"), gto("assign", "churn", "HEAD", "--stage", "prod"))
    story.chapter(commit(), gto("register", "churn"), gto("assign", "churn", "HEAD", "--stage", "prod"))
    story.chapter(gto("deprecate", "churn", "v0.0.2", "prod"))
    assert story.version("churn", "v0.0.1").stages == ["prod"]
    story.chapter(gto("deprecate", "churn", "v0.0.1"))  # deregistered: nobody holds prod
    story.chapter(gto("register", "churn", "{commit}", "--version", "{version}", "--simple", "false", pick=0))
    assert story.version("churn", "v0.0.1").stages == ["prod"]


def test_tags_in_the_same_second_are_ordered_as_gto_orders_them(story):
    story.chapter(
        commit(), tick(), {"step": "gto", "args": ["register", "churn"]},
        {"step": "gto", "args": ["assign", "churn", "HEAD", "--stage", "prod"]},
        {"step": "gto", "args": ["deprecate", "churn", "v0.0.1", "prod"]},  # same second: the unassignment wins
        {"step": "gto", "args": ["deprecate", "churn"]},  # same second as the rest: still active
    )  # fmt: skip
    story.chapter(
        commit(), tick(), {"step": "gto", "args": ["register", "churn"]},
        {"step": "gto", "args": ["assign", "churn", "HEAD", "--stage", "dev"]},
        {"step": "gto", "args": ["assign", "churn", "--version", "v0.0.1", "--stage", "dev"]},  # a tie: older wins
        {"step": "gto", "args": ["deprecate", "churn", "v0.0.2"]},
        {"step": "gto", "args": ["register", "churn", "HEAD", "--version", "v0.0.2", "--simple", "false"]},
    )  # fmt: skip


def test_tags_on_commits_the_last_sync_has_not_seen_and_off_the_branch(story):
    story.chapter(commit("first"), gto("register", "churn"))
    story.chapter(
        git("checkout", "-q", "-b", "experiment"), commit("on a side branch"), gto("register", "churn"),
        gto("assign", "churn", "HEAD", "--stage", "staging"), git("checkout", "-q", "main"), commit("second"),
        gto("register", "churn", "--bump-minor"), gto("assign", "churn", "HEAD", "--stage", "prod"),
    )  # fmt: skip
    assert story.version("churn", "v0.0.2").stages == ["staging"]  # registered on a commit main never had
    assert story.version("churn", "v0.1.0").stages == ["prod"]


def test_a_full_resync_agrees_with_gto_as_the_incremental_syncs_did(story):
    story.chapter(commit(), gto("register", "churn"), gto("assign", "churn", "HEAD", "--stage", "prod"))
    answers = story.chapter(commit(), gto("register", "churn"), gto("deprecate", "churn", "v0.0.2"))
    sync(story.repository, Trigger.MANUAL)
    assert_same(story.repository, answers)


def test_the_gto_executable_answers_as_the_driver_does(story):
    answers = story.chapter(commit(), gto("register", "churn"), gto("assign", "churn", "HEAD", "--stage", "prod"))
    command = [str(servers.GTO.program("gto")), "show", "--json"]
    printed = subprocess.run(command, cwd=story.path, capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == answers["registry"]
