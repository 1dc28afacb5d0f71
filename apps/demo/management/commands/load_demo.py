"""`manage.py load_demo`: the demo portal's people, teams, models, versions and approvals, made through the services.

Every row is created by the service that owns it, with a realistic actor, so the audit trail
reads like a team's history. Each object is looked up by its natural key first and skipped if it
exists: a second run writes nothing, not even an audit event. Lifecycle moves are made only for
models registered in this run, so a status changed by hand is never reset.

Two parts. The inventory (people, teams, roles, models, versions, grants, environments and
approval policies) is one transaction: if any step is refused, none of it is written. The
deployment requests come afterwards, outside any transaction, because a signed decision
re-authenticates its signer in a transaction of its own; they are loaded only into a portal that
has no deployment request yet, and each service call commits on its own.
"""

import logging
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts import services as accounts
from apps.accounts import tokens
from apps.accounts.models import GrantedCredential, Membership, Team, User
from apps.approvals import services as approvals
from apps.approvals.models import ApprovalPolicy, ApproverKind, DeploymentRequest
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent, ChainHead
from apps.core import request_context
from apps.core.exceptions import DomainError
from apps.demo import demo_data as demo
from apps.demo import demo_git, demo_gitops
from apps.deployments import services as deployments
from apps.deployments.models import EXCEPTIONS, DeploymentTarget, DriftState
from apps.deployments.observing import observe_target
from apps.gitsync import services as gitsync
from apps.gitsync.models import GitRepository, SyncStatus, Trigger
from apps.gitsync.sync import sync_repository
from apps.inventory import services as inventory
from apps.inventory.models import Environment, ModelVersion, RegisteredModel, RegisteredModelUserObjectPermission

SYSTEM = Actor.system("load_demo")


@contextmanager
def _quiet_tasks():
    """Mute the task runner's per-task INFO lines for a while."""
    loggers = [logging.getLogger(name) for name in ("celery.app.trace",)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _chain_length() -> int:
    return ChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first() or 0


class Loader:
    """Creates whatever part of the demo is missing; `created` counts what it made."""

    def __init__(self, password: str):
        self.password = password
        self.created = Counter()
        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.environments: dict[str, Environment] = {}
        self.made_users: set[str] = set()  # created in this run, so their password is the demo's
        self.today = timezone.now().date()
        self.notes: list[str] = []  # why a part was skipped, for the command's output

    def actor(self, username: str) -> Actor:
        return Actor.of(self.users[username])

    def load_inventory(self) -> None:
        """Everything but the deployment requests; run it in one transaction."""
        self.load_users()
        self.load_teams()
        self.load_roles()
        for spec in demo.MODELS:
            self.load_model(spec)
        self.load_grants()
        self.load_environments()
        self.load_policies()

    def load_users(self) -> None:
        existing = User.objects.in_bulk([user.username for user in demo.USERS], field_name="username")
        for spec in demo.USERS:
            user = existing.get(spec.username)
            if user is None:
                user = accounts.user_create(
                    actor=SYSTEM,
                    username=spec.username,
                    password=self.password,
                    email=spec.email,
                    first_name=spec.first_name,
                    last_name=spec.last_name,
                    is_superuser=spec.superuser,
                    is_portal_auditor=spec.portal_auditor,
                )
                self.created["users"] += 1
                self.made_users.add(spec.username)
            self.users[spec.username] = user
        if not self.users[demo.ADMIN].is_superuser:
            raise CommandError(f"The user {demo.ADMIN!r} exists but is not a superuser; the demo needs it to be one.")

    def load_teams(self) -> None:
        admin = self.actor(demo.ADMIN)
        for name, description in demo.TEAMS.items():
            team = Team.objects.filter(Q(name=name) | Q(slug=slugify(name))).first()
            if team is None:
                team = accounts.team_create(actor=admin, name=name, description=description)
                self.created["teams"] += 1
            self.teams[name] = team

    def load_roles(self) -> None:
        admin = self.actor(demo.ADMIN)
        held = set(
            Membership.objects.filter(team__in=self.teams.values(), user__in=self.users.values()).values_list(
                "team_id", "user_id", "role"
            )
        )
        for username, team_names, role in demo.ROLES:
            user = self.users[username]
            for team in (self.teams[name] for name in team_names):
                if (team.pk, user.pk, role) not in held:
                    accounts.membership_grant(actor=admin, team=team, user=user, role=role)
                    self.created["roles"] += 1

    def load_model(self, spec: demo.DemoModel) -> None:
        model = RegisteredModel.objects.filter(Q(name=spec.name) | Q(slug=spec.slug)).first()
        registered = model is None
        if registered:
            model = self.register(spec)
        existing = {version.version: version for version in model.versions.all()}
        parent = None
        for index, version in enumerate(spec.versions):
            parent = existing.get(version) or self.add_version(spec, model, index, parent)
        if registered:
            for step in spec.lifecycle:
                actor = self.actor(step.actor)
                model = inventory.registered_model_set_lifecycle(
                    actor=actor, model=model, status=step.status, reason=step.reason
                )
                self.created["lifecycle changes"] += 1

    def register(self, spec: demo.DemoModel) -> RegisteredModel:
        dates = {}
        if spec.validated_days_ago is not None:
            dates["last_validated_on"] = self.today - timedelta(days=spec.validated_days_ago)
        if spec.validation_due_in_days is not None:
            dates["next_validation_due"] = self.today + timedelta(days=spec.validation_due_in_days)
        model = inventory.registered_model_register(
            actor=self.actor(spec.owners[0]),
            team=self.teams[spec.team],
            name=spec.name,
            risk_tier=spec.risk_tier,
            owners=[self.users[owner] for owner in spec.owners],
            tags=spec.tags,
            description=spec.description,
            eu_ai_act_category=spec.ai_act,
            intended_use=spec.intended_use,
            limitations=spec.limitations,
            source_repository_url=demo.REPOSITORIES[spec.team],
            source_path=f"models/{spec.slug.replace('-', '_')}",
            validator=self.users[spec.validator],
            **dates,
        )
        self.created["models"] += 1
        return model

    def add_version(self, spec: demo.DemoModel, model, index: int, parent) -> ModelVersion:
        version = spec.versions[index]
        created = inventory.model_version_create(
            actor=self.actor(demo.version_author(spec, index)),
            model=model,
            version=version,
            source=spec.source,
            git_commit_sha=demo.git_commit_sha(spec, version),
            artifact_uri=demo.artifact_uri(spec, version),
            artifact_digest=demo.artifact_digest(spec, version),
            framework=spec.framework,
            metrics=demo.version_metrics(spec, index),
            parameters=demo.version_parameters(spec, index),
            model_card=demo.model_card(spec, index),
            training_data=demo.training_data(spec, index),
            parent=parent,
        )
        self.created["versions"] += 1
        return created

    def load_grants(self) -> None:
        for grantor, grantee, action, model_name in demo.OBJECT_GRANTS:
            model = RegisteredModel.objects.get(name=model_name)
            user = User.objects.get(pk=self.users[grantee].pk)  # fresh: no cached permissions
            if not user.has_perm(f"inventory.{action}_registeredmodel", model):
                accounts.object_permission_grant(actor=self.actor(grantor), user=user, action=action, obj=model)
                self.created["object permissions"] += 1

    def load_environments(self) -> None:
        admin = self.actor(demo.ADMIN)
        for spec in demo.ENVIRONMENTS:
            environment = Environment.objects.filter(Q(slug=spec.slug) | Q(name=spec.name)).first()
            if environment is None:
                environment = inventory.environment_save(
                    actor=admin, name=spec.name, slug=spec.slug, order=spec.order, protected=spec.protected,
                    description=spec.description,
                )  # fmt: skip
                self.created["environments"] += 1
            self.environments[spec.slug] = environment

    def load_policies(self) -> None:
        """Policies are looked up by name: one edited by an administrator is kept as it is."""
        admin = self.actor(demo.ADMIN)
        existing = set(ApprovalPolicy.objects.values_list("name", flat=True))
        for spec in demo.POLICIES:
            if spec.name in existing:
                continue
            steps = [
                {
                    "name": step.name,
                    "approver_kind": ApproverKind.USERS if step.users else ApproverKind.ROLE,
                    "role": "" if step.users else "approver",
                    "users": [self.users[username] for username in step.users],
                    "quorum": step.quorum,
                    "requires_signature": step.signed,
                    "due_hours": step.due_hours,
                }
                for step in spec.steps
            ]
            approvals.policy_save(
                actor=admin, steps=steps, name=spec.name, description=spec.description,
                environment=self.environments[spec.environment], risk_tiers=list(spec.tiers),
                require_previous_environment=spec.require_previous_environment,
                require_current_validation=spec.require_current_validation,
                metric_thresholds=[dict(rule) for rule in spec.metric_thresholds], expiry_days=spec.expiry_days,
            )  # fmt: skip
            self.created["approval policies"] += 1

    def load_git_repository(self) -> None:
        """A real local Git repository, registered for Marketing Analytics and synced: git-sourced versions."""
        if not settings.GITSYNC_ALLOW_LOCAL:
            self.notes.append("Skipped the demo Git repository: local repositories are off (GITSYNC_ALLOW_LOCAL=1).")
            return
        path = Path(settings.GITSYNC_MIRROR_DIR).parent / "demo-git" / demo_git.REPOSITORY_NAME
        demo_git.build(path)
        repository = GitRepository.objects.filter(name=demo_git.REPOSITORY_NAME).first()
        if repository is None:
            with transaction.atomic():
                repository, _ = gitsync.repository_create(
                    actor=self.actor(demo.ADMIN), team=self.teams[demo.MARKETING], name=demo_git.REPOSITORY_NAME,
                    url=str(path), branch="main",
                )  # fmt: skip
            self.created["repositories"] += 1
        if repository.last_sync_status == SyncStatus.NEVER:
            run = sync_repository(repository.pk, trigger=Trigger.COMMAND, requested_by="load_demo")
            if run is not None and run.status == SyncStatus.FAILED:
                self.notes.append(f"The demo repository did not sync: {'; '.join(run.errors)}")
            elif run is not None:
                self.notes.append(
                    f"Synced {repository.name} from Git ({path}): {run.created} versions; see /repositories/."
                )

    def load_credentials(self) -> None:
        """A credential a portal admin granted: Credit Risk may fetch from github.com with it, and nowhere else."""
        if GrantedCredential.objects.filter(name=demo.CREDENTIAL["name"]).exists():
            return
        with transaction.atomic():
            accounts.credential_save(
                actor=self.actor(demo.ADMIN), credential=None, teams=[self.teams[demo.CREDIT]], **demo.CREDENTIAL
            )
        self.created["credentials"] += 1

    def load_targets(self) -> None:
        """A GitOps repository of KServe manifests and one target per environment, observed once: /deployments/
        shows what runs, and the one exception the demo keeps (AML 3.0.0 in production without approval)."""
        if not settings.GITSYNC_ALLOW_LOCAL:
            self.notes.append(
                "Skipped the demo deployment targets: local repositories are off (GITSYNC_ALLOW_LOCAL=1)."
            )
            return
        path = Path(settings.GITSYNC_MIRROR_DIR).parent / "demo-git" / demo_gitops.REPOSITORY_NAME
        demo_gitops.build(path, self.gitops_commits())
        for environment in demo_gitops.ENVIRONMENTS:
            name = f"gitops-{environment}"
            if DeploymentTarget.objects.filter(name=name).exists():
                continue
            with transaction.atomic():
                target = deployments.target_save(
                    actor=self.actor(demo.ADMIN), name=name, environment=self.environments[environment],
                    team=self.teams[demo.CREDIT], kind="gitops", interval_seconds=300,
                    config={"url": str(path), "branch": "main", "paths": [f"{environment}/**/*.yaml"]},
                )  # fmt: skip
            self.created["deployment targets"] += 1
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"), _quiet_tasks():
                observe_target(target.pk, trigger="command", requested_by="load_demo")
        exceptions = DriftState.objects.filter(status__in=EXCEPTIONS).count()
        self.notes.append(
            f"Observed the demo's GitOps repository ({path}): {exceptions} exception(s) on /deployments/."
        )

    def gitops_commits(self) -> list[tuple[str, dict[str, str]]]:
        """What the platform team committed: each approved request rolled out, then one hand-made production change."""
        commits = []
        for spec in demo.GITOPS_ROLLOUTS:
            model = RegisteredModel.objects.get(name=spec.model)
            version = model.versions.get(version=spec.version)
            file = f"{spec.environment}/{model.slug}.yaml"
            approved = version.deployment_requests.filter(environment__slug=spec.environment, state="approved").last()
            digest = (approved.subject.get("artifact_digest") if approved else "") or version.artifact_digest
            content = demo_gitops.manifest(
                spec.environment, model.slug, version.version, digest.removeprefix("sha256:"), version.artifact_uri,
                version.framework,
            )  # fmt: skip
            commits.append((spec.message, {file: content}))
        return commits

    def load_service_account(self) -> None:
        """Credit Risk's CI pipeline: a service account with one token (its secret is never printed; issue a new
        token on the team page to try the CLI)."""
        if User.objects.filter(username=f"svc-{demo.CI_ACCOUNT}").exists():
            return
        team, admin = self.teams[demo.CREDIT], self.actor(demo.TEAM_ADMINS[demo.CREDIT])
        with transaction.atomic():
            account = tokens.service_account_create(
                actor=admin, team=team, name=demo.CI_ACCOUNT, description="GitHub Actions: retail scorecard releases"
            )
            tokens.token_create(
                actor=admin, account=account, name="github-actions", expires_in_days=90,
                scopes=["read", "register", "request-deploy", "report-deployment"],
            )  # fmt: skip
        self.created["service accounts"] += 1

    def load_requests(self) -> None:
        """The deployment requests, in every state; outside any transaction (signing needs its own).

        Only into a portal without requests: the requests tell one story, and half of it would not make sense.
        """
        if DeploymentRequest.objects.exists():
            return
        signers = {decision.approver for spec in demo.REQUESTS for decision in spec.decisions} - self.made_users
        own = sorted(name for name in signers if not check_password(self.password, self.users[name].password))
        if own:
            self.notes.append(
                f"Deployment requests not loaded: {', '.join(own)} sign decisions but have their own password."
            )
            return
        # The demo's history is not news: its notifications (and the in-process task runner's log
        # lines) would bury the logins under console e-mails.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"), _quiet_tasks():
            for spec in demo.REQUESTS:
                self.load_request(spec)

    def load_request(self, spec: demo.DemoRequest) -> None:
        version = ModelVersion.objects.select_related("model").get(model__name=spec.model, version=spec.version)
        requester = self.actor(spec.requester)
        request = approvals.request_deployment(
            actor=requester, version=version, environment=self.environments[spec.environment],
            justification=spec.justification,
        )  # fmt: skip
        self.created["deployment requests"] += 1
        for decision in spec.decisions:
            approvals.deployment_request_decide(
                actor=self.actor(decision.approver), request=request, outcome=decision.outcome,
                comment=decision.comment, password=self.password,
            )  # fmt: skip
        if spec.then == "cancel":
            approvals.deployment_request_cancel(actor=requester, request=request, reason=spec.reason)
        elif spec.then == "expire":  # what the scheduler does once the expiry has passed
            request.refresh_from_db()
            approvals.deployment_request_expire(request=request, now=request.expires_at)
        elif spec.then == "reset":  # a new artifact under the same version: the request goes back to draft
            inventory.model_version_update(
                actor=requester, version=version, artifact_digest=demo.reexported_digest(spec)
            )


class Command(BaseCommand):
    help = (
        "Load the demo teams, people, models, versions, environments, approval policies and deployment requests "
        "through the services (audited). Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even with DEBUG off (the demo accounts share a known password)."
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "load_demo creates accounts with a published password, so it runs only with DEBUG on. "
                "Use --force to load the demo into this database anyway."
            )
        password = settings.GOVPORTAL_DEMO_PASSWORD
        if not password:
            raise CommandError("GOVPORTAL_DEMO_PASSWORD is empty: set the demo accounts' password.")
        if transaction.get_connection().in_atomic_block and not DeploymentRequest.objects.exists():
            raise CommandError(
                "load_demo signs approval decisions, which re-authenticates outside any transaction: "
                "call it outside transaction.atomic() (in tests: use the transactional_db fixture)."
            )
        loader = Loader(password)
        chain_before = _chain_length()
        request_id = request_context.new_request_id()
        with request_context.bind(source="command", request_id=request_id):
            try:
                with transaction.atomic():
                    loader.load_inventory()
            except (ValidationError, PermissionDenied) as exc:
                raise CommandError(f"Demo data not loaded (nothing was written): {exc}") from exc
            loader.load_git_repository()
            loader.load_credentials()
            loader.load_service_account()
            try:
                loader.load_requests()
            except (ValidationError, PermissionDenied, DomainError) as exc:
                raise CommandError(
                    f"Demo deployment requests only partly loaded ({loader.created['deployment requests']} made): "
                    f"{exc}. The inventory is complete; reload into an empty database for the full demo."
                ) from exc
            loader.load_targets()
        self.print_logins(password)
        for note in loader.notes:
            self.stdout.write(note)
        created = loader.created
        self.stdout.write(
            f"Created {created['teams']} teams, {created['users']} users, {created['models']} models, "
            f"{created['versions']} versions, {created['environments']} environments, "
            f"{created['approval policies']} approval policies, {created['deployment requests']} deployment requests, "
            f"{created['repositories']} Git repositories, {created['credentials']} granted credentials, "
            f"{created['service accounts']} service accounts, {created['deployment targets']} deployment targets "
            f"and {_chain_length() - chain_before} audit events"
            + ("." if created.total() else " (the demo data was already loaded).")
        )

    def print_logins(self, password: str) -> None:
        usernames = [spec.username for spec in demo.USERS]
        users = User.objects.filter(username__in=usernames).order_by()
        by_user = defaultdict(lambda: defaultdict(list))
        for membership in Membership.objects.filter(user__in=users).select_related("team", "user"):
            by_user[membership.user.username][membership.get_role_display().lower()].append(membership.team.name)
        for grant in RegisteredModelUserObjectPermission.objects.filter(user__in=users).select_related(
            "user", "permission", "content_object"
        ):
            verb = grant.permission.codename.split("_")[0]
            by_user[grant.user.username][f"{verb} on"].append(grant.content_object.name)
        # Accounts that existed before the demo keep their own password; say so rather than mislead.
        made_here = AuditEvent.objects.filter(
            action=Action.USER_CREATED, actor_kind=SYSTEM.kind, actor_label=SYSTEM.label, target_type="accounts.user"
        )
        demo_made = set(made_here.values_list("target_label", flat=True))
        rows = [("username", "name", "roles", "password")]
        for user in sorted(users, key=lambda user: usernames.index(user.username)):
            roles = "superuser" if user.is_superuser else self.role_summary(by_user[user.username])
            roles = f"portal auditor; {roles}" if user.is_portal_auditor else roles
            rows.append((user.username, user.display_name, roles, password if user.username in demo_made else "(own)"))
        widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
        self.stdout.write("Demo logins:")
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(f"  {line}".rstrip())

    @staticmethod
    def role_summary(roles: dict[str, list[str]]) -> str:
        """E.g. "approver (all teams)" or "viewer (Credit Risk); view on Card Transaction Fraud Detector"."""
        parts = []
        for role, places in sorted(roles.items(), key=lambda item: (item[0].endswith(" on"), item[0])):
            if role.endswith(" on"):  # an object permission: "view on <model>"
                parts.append(f"{role} {', '.join(sorted(places))}")
                continue
            where = "all teams" if set(demo.TEAMS) <= set(places) else ", ".join(sorted(places))
            parts.append(f"{role} ({where})")
        return "; ".join(parts) or "no team roles"
