"""`manage.py seed_scale --models N --versions-per-model M`: an inventory of benchmark size, fast.

The shape the benchmarks compare with MLflow: N models spread over a few teams, M versions each, two tags per
model and one label per version (a `run` parameter, MLflow's version tag), and an audit event for every team,
role, model and version, appended to the chain with audit.record_many() so `audit_verify` passes. Rows go in
with bulk INSERTs in batches, not through the one-at-a-time services: 100k versions take well under two minutes.
Each batch of models and its versions is one transaction, so an interrupted run leaves whole models only.

The demo cast (`dana`, `rita`, `audrey`, … from apps/demo/demo_data.py) gets its demo roles in the seeded
teams, so signing in as them shows the seeded data; missing cast members are created with the demo password,
which is why the command refuses to run with DEBUG off unless given --force, like load_demo.
"""

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Team, User
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record_many
from apps.core import request_context
from apps.demo import demo_data as demo
from apps.inventory.models import Lifecycle, ModelVersion, RegisteredModel, RiskTier, Tag
from apps.inventory.services import tag_text

SYSTEM = Actor.system("seed_scale")
MODELS_PER_BATCH = 2_000
TAG_POOL = 500  # distinct tags; each model draws two
WORDS = (
    "Retail", "retail", "SME", "Mortgage", "Card", "AML", "Account", "aggregate", "Churn", "Uplift", "Fraud",
    "Collections", "Pricing", "Propensity", "Zürich", "Überweisung", "Support", "Claims", "Credit", "Payments",
)  # fmt: skip
KINDS = ("Scorecard", "PD", "LGD", "Detector", "Classifier", "Forecaster", "Matcher", "Ranker", "Screening")
TEAM_ADMINS = ("omar", "lena", "tom")


def _roles_for(index: int) -> list[tuple[str, str]]:
    """(username, role) the demo cast holds in the index-th seeded team, as in the demo's own teams: dana,
    the approvers and audrey in every team; one team admin each in turn; kenji and vera where the demo has them."""
    admin = TEAM_ADMINS[index % len(TEAM_ADMINS)]
    roles = [(name, role) for name, teams, role in demo.ROLES if teams == demo.ALL_TEAMS]
    roles.append((admin, "admin"))
    roles.append(("kenji", "contributor") if admin == "lena" else ("vera", "viewer"))
    return roles


class Command(BaseCommand):
    help = (
        "Seed N models with M versions each (2 tags a model, an audit event per object) for benchmarks. "
        "Refuses with DEBUG off unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, required=True, help="How many models to add.")
        parser.add_argument("--versions-per-model", type=int, required=True, help="Versions each model gets.")
        parser.add_argument("--teams", type=int, default=5, help="Teams the models are spread over (default 5).")
        parser.add_argument("--prefix", default="Scale", help="Start of the seeded teams' names (default Scale).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed, for the same data twice.")
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (missing demo accounts get its password)."
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_scale creates the demo accounts with a published password when they are missing, so it runs "
                "only with DEBUG on. Use --force to seed this database anyway."
            )
        models, per_model, team_count = options["models"], options["versions_per_model"], options["teams"]
        if models < 1 or per_model < 0 or team_count < 1:
            raise CommandError(
                "Give --models of at least 1, --versions-per-model of at least 0 and --teams of 1 or more."
            )
        prefix = options["prefix"].strip()
        if not prefix or Team.objects.filter(name__startswith=f"{prefix} team ").exists():
            raise CommandError(
                f"Teams named '{prefix} team …' exist already: seed_scale adds new teams, so pass another --prefix."
            )
        started = time.monotonic()
        rng = random.Random(options["seed"])  # noqa: S311 (benchmark data, repeatable; no secret)
        with request_context.bind(source="command", request_id=request_context.new_request_id()):
            with transaction.atomic():
                teams = self._teams(prefix, team_count)
                tags = self._tags(prefix)
            made = 0
            while made < models:
                size = min(MODELS_PER_BATCH, models - made)
                with transaction.atomic():
                    self._models(prefix, rng, teams, tags, start=made, size=size, per_model=per_model)
                made += size
                self.stdout.write(f"  {made:,} models, {made * per_model:,} versions")
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {models:,} models and {models * per_model:,} versions in {team_count} teams "
                f"in {elapsed:.1f} s."
            )
        )

    def _cast(self) -> dict[str, User]:
        users = User.objects.in_bulk([spec.username for spec in demo.USERS], field_name="username")
        for spec in demo.USERS:
            if spec.username not in users:
                users[spec.username] = accounts.user_create(
                    actor=SYSTEM, username=spec.username, password=settings.GOVPORTAL_DEMO_PASSWORD,
                    email=spec.email, first_name=spec.first_name, last_name=spec.last_name,
                    is_superuser=spec.superuser, is_portal_auditor=spec.portal_auditor,
                )  # fmt: skip
        return users

    def _teams(self, prefix: str, count: int) -> list[Team]:
        users = self._cast()
        teams = Team.objects.bulk_create(
            Team(name=f"{prefix} team {n + 1:02d}", slug=slugify(f"{prefix}-team-{n + 1:02d}")) for n in range(count)
        )
        memberships = Membership.objects.bulk_create(
            Membership(team=team, user=users[name], role=role)
            for index, team in enumerate(teams)
            for name, role in _roles_for(index)
        )
        team_names = {team.pk: team.name for team in teams}
        record_many(
            [(Action.TEAM_CREATED, SYSTEM, team, {"name": [None, team.name]}) for team in teams]
            + [
                (Action.ROLE_GRANTED, SYSTEM, m, {"user": [None, m.user.username], "role": [None, m.role],
                                                  "team": [None, team_names[m.team_id]]})
                for m in memberships
            ]
        )  # fmt: skip
        return teams

    def _tags(self, prefix: str) -> list[Tag]:
        names = [
            f"{slugify(prefix)}-{word}-{n}".lower()[:40] for n in range(TAG_POOL // len(WORDS) + 1) for word in WORDS
        ]
        Tag.objects.bulk_create([Tag(name=name) for name in names[:TAG_POOL]], ignore_conflicts=True)
        return list(Tag.objects.filter(name__in=names[:TAG_POOL]))

    def _models(self, prefix, rng, teams, tags, *, start: int, size: int, per_model: int) -> None:
        """`size` models (numbered from `start`) with their tags and versions, and their events, in the caller's
        transaction."""
        tiers, stages = RiskTier.values, Lifecycle.values[:3]
        picks = [rng.sample(tags, 2) for _ in range(size)]
        models = RegisteredModel.objects.bulk_create(
            RegisteredModel(
                name=(name := f"{rng.choice(WORDS)} {rng.choice(KINDS)} {prefix} {start + n + 1:07d}"),
                slug=slugify(name), team=teams[(start + n) % len(teams)], risk_tier=rng.choice(tiers),
                lifecycle_status=rng.choice(stages), description=f"{name}: seeded for benchmarks.",
                version_count=per_model, tag_names=tag_text(tag.name for tag in picks[n]),
            )
            for n in range(size)
        )  # fmt: skip
        through = RegisteredModel.tags.through
        chosen = {model.pk: picks[n] for n, model in enumerate(models)}
        through.objects.bulk_create(
            through(registeredmodel_id=model.pk, tag_id=tag.pk) for model in models for tag in chosen[model.pk]
        )
        team_names = {team.pk: team.name for team in teams}
        record_many([
            (Action.MODEL_REGISTERED, SYSTEM, model, {
                "name": [None, model.name], "team": [None, team_names[model.team_id]],
                "risk_tier": [None, model.risk_tier], "description": [None, model.description],
                "lifecycle_status": [None, model.lifecycle_status],
                "tags": [None, sorted(tag.name for tag in chosen[model.pk])],
            })
            for model in models
        ])  # fmt: skip
        if not per_model:
            return
        versions = ModelVersion.objects.bulk_create(
            ModelVersion(
                model=model, version=f"1.{v}.0", source="api", framework="sklearn",
                artifact_uri=f"s3://models/{model.slug}/1.{v}.0", artifact_digest=f"{rng.getrandbits(256):064x}",
                metrics={"auc": round(0.7 + rng.random() / 4, 4)}, parameters={"run": f"{rng.getrandbits(40):010x}"},
            )
            for model in models
            for v in range(per_model)
        )  # fmt: skip
        record_many([
            (Action.VERSION_CREATED, SYSTEM, version, {
                "version": [None, version.version], "artifact_uri": [None, version.artifact_uri],
                "artifact_digest": [None, version.artifact_digest], "framework": [None, version.framework],
                "metrics": [None, version.metrics], "parameters": [None, version.parameters],
                "source": [None, version.source],
            })
            for version in versions
        ])  # fmt: skip
        latest = {version.model_id: version for version in versions}  # the last made of each model
        for model in models:
            model.latest_version, model.latest_version_at = latest[model.pk], latest[model.pk].created_at
        RegisteredModel.objects.bulk_update(models, ["latest_version", "latest_version_at"], batch_size=1000)
