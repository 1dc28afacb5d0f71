"""One sync of one repository: lock, fetch, read what changed, apply it, and record the run.

Safe to run twice, concurrently, or after a crash: one sync per repository holds the lock (a second one
returns at once and the holder re-queues it when done), every write is an upsert by (model, version), and
the repository's `last_synced_commit` moves only after everything was applied.
"""

import hashlib
import logging
import posixpath
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts import credentials
from apps.audit.actions import Action
from apps.audit.services import record
from apps.inventory import services as inventory_services

from . import git, locks, parsers, reading
from .applying import SYNC_ACTOR, Applier, sync_context
from .exceptions import TransientSyncError
from .models import GitRepository, KnownTag, SyncRun, SyncStatus, Trigger
from .reading import GOVPORTAL_FILE, Problems
from .services import is_local, local_source_error

logger = logging.getLogger(__name__)
MAX_MESSAGES = 200  # per run and kind; a broken file should not make a run unreadable
# Versions written per transaction in a first sync; more than the inventory takes in one batch would all be refused.
CHUNK = min(settings.GITSYNC_VERSIONS_PER_TRANSACTION, inventory_services.MAX_VERSIONS_PER_BATCH)
MODEL_CHUNK = 500  # models likewise


def sync_repository(repository_id: int, *, trigger: str, requested_by: str = "") -> SyncRun | None:
    """Sync a repository now. None when it is gone or disabled, or when another sync holds its lock."""
    repository = GitRepository.objects.select_related("team", "credential").filter(pk=repository_id).first()
    if repository is None or not repository.enabled:
        return None
    with locks.repository_lock(repository.pk) as held:
        if not held:
            return None  # coalesced: the running sync sees the queued mark when it ends and queues again
        GitRepository.objects.filter(pk=repository.pk).update(sync_queued_at=None)
        _close_interrupted_runs(repository)
        run = SyncRun.objects.create(
            repository=repository, trigger=trigger, requested_by=requested_by[:200],
            head_before=repository.last_synced_commit,
        )  # fmt: skip
        try:
            _Sync(repository, run).execute()
        except TransientSyncError:
            raise  # recorded as failed already; the task retries it
        except Exception as exc:
            # Never out of the task: a failure that escaped would be retried by nobody and shown to nobody. The run
            # says what went wrong, and the next sync starts again from the last commit that was fully applied.
            logger.exception("sync of repository %s failed", repository.pk)
            _finish(run, repository, SyncStatus.FAILED, Problems(errors=[f"internal error ({reason(exc)})"]))
    if GitRepository.objects.filter(pk=repository.pk, sync_queued_at__isnull=False).exists():
        from .tasks import sync_repository_task

        sync_repository_task.delay(repository.pk, Trigger.SCHEDULE, "coalesced request")
    return run


def reason(exc: BaseException) -> str:
    """An unexpected exception in a few words for the run's record: its type and message, without URL user-info."""
    text = git.redact(str(exc)).strip()
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _storable(message: str) -> str:
    """Messages quote what repositories hold; a JSON column takes neither NUL nor unpaired surrogates."""
    return message.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")[:1000]


def _close_interrupted_runs(repository: GitRepository) -> None:
    """Runs still 'running' while we hold the lock belong to a worker that died: say so."""
    SyncRun.objects.filter(repository=repository, status=SyncStatus.RUNNING).update(
        status=SyncStatus.FAILED,
        finished_at=timezone.now(),
        errors=["the worker stopped before this sync finished; the next sync picked up from the last good commit"],
    )


def _finish(run: SyncRun, repository: GitRepository, status: str, problems: Problems, **fields) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.errors = [_storable(message) for message in problems.errors[:MAX_MESSAGES]]
    run.warnings = [_storable(message) for message in problems.warnings[:MAX_MESSAGES]]
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    # Nothing changed since a run with problems: the problems stand, and the repository keeps saying so.
    shown = (
        SyncStatus.WARNING
        if status == SyncStatus.UNCHANGED and repository.last_sync_status == SyncStatus.WARNING
        else status
    )
    GitRepository.objects.filter(pk=repository.pk).update(last_sync_status=shown, last_synced_at=run.finished_at)


def mirror_for(repository: GitRepository, secret: credentials.Secret | None = None) -> git.Mirror:
    digest = hashlib.sha256(f"{repository.url}\n{repository.pk}".encode()).hexdigest()[:16]
    path = Path(settings.GITSYNC_MIRROR_DIR) / f"{repository.pk}-{digest}.git"
    return git.Mirror(
        path=path,
        url=repository.url,
        credential=secret.value if secret else None,
        username=secret.username if secret else None,
        allowed_hosts=secret.hosts if secret else (),
        allow_local=is_local(repository.url),
    )


def _open_mirror(repository: GitRepository) -> git.Mirror:
    """The repository's mirror, refusing what an admin did not allow (local sources, credentials' hosts)."""
    problem = local_source_error(repository.url)
    if problem:
        raise ValueError(problem)
    secret = None
    if repository.credential_id:
        try:
            secret = credentials.secret_for(repository.credential, team=repository.team, url=repository.url)
        except credentials.CredentialError as exc:
            raise ValueError(str(exc)) from None
    return mirror_for(repository, secret)


class _Sync:
    def __init__(self, repository: GitRepository, run: SyncRun):
        self.repository, self.run = repository, run
        self.problems = Problems()
        self.max_bytes = settings.GITSYNC_MAX_FILE_BYTES

    def execute(self) -> None:
        repository = self.repository
        # "Sync now" re-reads everything (idempotent, so only real differences are written): a fix made in the
        # portal (a team, a clashing model) then takes effect without a new commit.
        full = self.run.trigger == Trigger.MANUAL
        skipped: list[tuple[str, str]] = []
        try:
            mirror = _open_mirror(repository)
            mirror.ensure()
            # Nothing moved: the head and every tag ref as the last sync stored them, by name and object id. Asking
            # the remote is one ls-remote, much less than a fetch that brings nothing; no tag is opened either way.
            unchanged, tags = False, []
            if not full and repository.last_synced_commit and repository.last_tags_fingerprint:
                head, fingerprint = mirror.remote_refs(repository.branch)
                unchanged = head == repository.last_synced_commit and fingerprint == repository.last_tags_fingerprint
            if not unchanged:
                mirror.fetch()
                head, fingerprint = mirror.refs(repository.branch)
                if head is None:
                    raise git.GitError(f"the branch {repository.branch!r} does not exist in the repository")
                unchanged = head == repository.last_synced_commit and fingerprint == repository.last_tags_fingerprint
                tags = [] if unchanged and not full else mirror.tags(skipped=skipped)
        except (git.GitError, ValueError) as exc:
            self.problems.error(f"could not read the repository: {exc}")
            _finish(self.run, repository, SyncStatus.FAILED, self.problems)
            if isinstance(exc, git.GitError) and exc.transient:
                raise TransientSyncError(str(exc)) from exc
            return
        if unchanged and not full:
            _finish(self.run, repository, SyncStatus.UNCHANGED, self.problems, head_after=head)
            return
        for name, kind in skipped:
            self.problems.warn(f"tag {name} points at a {kind}, not a commit; ignored")
        since = None if full else (repository.last_synced_commit or None)
        if since and not mirror.is_ancestor(since, head):
            self._history_rewritten(since, head)
        applier = Applier(repository, self.run, self.problems)
        commits = mirror.count_commits(repository.branch, since)
        self.state = reading.read_gto(tags, self.problems)
        self.by_commit = reading.tags_by_commit(tags)
        self._read_history(mirror, applier, since)
        self._read_state(mirror, applier, head)
        self._tags_moved(tags)
        created, updated, unchanged_count = applier.counts
        status = SyncStatus.WARNING if self.problems.errors or self.problems.warnings else SyncStatus.SUCCEEDED
        GitRepository.objects.filter(pk=repository.pk).update(
            last_synced_commit=head, last_tags_fingerprint=fingerprint
        )
        _finish(
            self.run, repository, status, self.problems, head_after=head, commits_read=commits,
            created=created, updated=updated, unchanged=unchanged_count,
        )  # fmt: skip

    # -- history: govportal.yaml ----------------------------------------------------------------------------

    def _read_history(self, mirror: git.Mirror, applier: Applier, since: str | None) -> None:
        touched = mirror.commits(self.repository.branch, since, paths=(GOVPORTAL_FILE,))
        yaml_files = mirror.read_files([(commit.sha, GOVPORTAL_FILE) for commit in touched], self.max_bytes, links=True)
        declared = []  # (commit, models, problems), oldest first
        for index, commit in enumerate(touched):
            # Only the newest version of the file reports its mistakes; older ones were superseded.
            last = index == len(touched) - 1
            problems = self.problems if last else Problems(warnings=self.problems.warnings)
            text = reading.text_of(yaml_files[(commit.sha, GOVPORTAL_FILE)], GOVPORTAL_FILE, problems)
            if text is None:
                continue  # deleted (nothing is removed from the inventory) or unreadable (reported)
            try:
                result = parsers.parse_govportal_yaml(text, GOVPORTAL_FILE, self.max_bytes)
            except Exception as exc:  # a reader's bug must not stop the commits after this one
                self._unexpected(exc, commit, "could not be read", last)
                continue
            for error in result.errors:
                problems.error(str(error))
            declared.append((commit, result.models, problems))
        wanted = []
        for commit, specs, _ in declared:
            for version in (version for spec in specs for version in spec.versions if version.model_card):
                directory = posixpath.dirname(version.model_card)
                wanted += [(commit.sha, path) for path in (version.model_card, *reading.metadata_files(directory))]
        files = mirror.read_files(wanted, self.max_bytes, links=True)  # every card and metadata file in one batch
        for index, (commit, specs, problems) in enumerate(declared):
            try:
                self._apply_declarations(applier, commit, specs, files, problems)
            except Exception as exc:
                self._unexpected(exc, commit, "could not be applied", index == len(declared) - 1)

    def _unexpected(self, exc: Exception, commit: git.Commit, what: str, last: bool) -> None:
        """An exception on one commit's govportal.yaml: an error when it is the file as it is now, a warning when a
        later commit superseded it (and the sync goes on to that one)."""
        logger.exception("repository %s: %s at %s %s", self.repository.pk, GOVPORTAL_FILE, commit.sha, what)
        message = f"{GOVPORTAL_FILE} at {commit.sha[:10]} {what} ({reason(exc)})"
        (self.problems.error if last else self.problems.warn)(message)

    def _apply_declarations(self, applier: Applier, commit: git.Commit, specs, files: dict, problems: Problems):
        team = self.repository.team
        for spec in specs:
            where = f"{GOVPORTAL_FILE}:{spec.line}" if spec.line else GOVPORTAL_FILE
            if spec.team != team.slug:
                problems.error(
                    f"{where}: team: model {spec.name!r} names team {spec.team!r}, but this repository belongs to "
                    f"{team.name} ({team.slug}); only that team's models are synced from it"
                )
                continue
            declared = {"risk_tier": spec.risk_tier, "intended_use": spec.intended_use}
            model = applier.model(
                spec.name, where=where, commit=commit.sha, create={**declared, "source_path": GOVPORTAL_FILE},
                update=declared,
            )  # fmt: skip
            if model is None:
                continue
            for version in spec.versions:
                vwhere = f"{GOVPORTAL_FILE}:{version.line}" if version.line else where
                fields = {
                    "artifact_uri": version.artifact_uri,
                    "artifact_digest": version.artifact_digest,
                    "metrics": version.metrics,
                    "parameters": version.parameters,
                    "model_card": "",
                    "source_metadata": {},
                }
                if version.model_card:
                    content = files.get((commit.sha, version.model_card))
                    if content is None:
                        problems.error(f"{vwhere}: model_card: {version.model_card} does not exist at this commit")
                    fields["model_card"] = reading.text_of(content, version.model_card, problems) or ""
                    fields["source_metadata"] = reading.metadata_from(
                        files, commit.sha, posixpath.dirname(version.model_card), problems, self.max_bytes
                    )
                on_create = self._tag_fields(model.slug, version.version, commit.sha)
                applier.version(model, version.version, where=vwhere, commit=commit, fields=fields, on_create=on_create)

    # -- state: tags --------------------------------------------------------------------------------------

    def _read_state(self, mirror: git.Mirror, applier: Applier, head: str) -> None:
        state = self.state
        if state.names:
            state.artifacts = reading.read_artifacts(mirror, head, self.problems, self.max_bytes)
            self._register_tagged(mirror, applier, state)
        self._refresh_tags(applier)

    def _register_tagged(self, mirror: git.Mirror, applier: Applier, state: reading.GtoState) -> None:
        """Models and versions GTO tags register, created where the inventory lacks them."""
        new = [
            (slug, gv) for (slug, _), gv in state.versions.items()
            if applier.existing(slug, gv.version) is None
        ]  # fmt: skip
        for (slug, version), gv in state.versions.items():
            existing = applier.existing(slug, version)
            if existing is not None and existing.source == "git" and existing.git_commit_sha != gv.tag.target_sha:
                self.problems.warn(
                    f"tag {gv.tag.name} names commit {gv.tag.target_sha[:10]}, but {existing} is registered at "
                    f"{existing.git_commit_sha[:10]}; the inventory keeps the registered commit"
                )
        commits = mirror.commit_info([gv.tag.target_sha for _, gv in new])
        wanted = []
        for slug, gv in new:
            wanted += [(gv.tag.target_sha, path) for path in reading.metadata_files(state.directory(slug))]
        files = mirror.read_files(wanted, self.max_bytes, links=True)
        models = []  # (slug, artifact, decl, update): the models GTO tags name
        for slug, artifact in sorted(state.names.items()):
            decl = state.decl(slug)
            if decl is not None and decl.type and decl.type != "model":
                continue  # GTO also tracks datasets and other artifacts; the inventory holds models
            update = {"description": decl.description} if decl and decl.description else {}
            if decl and decl.path:
                update["source_path"] = decl.path
            models.append((slug, artifact, decl, update))
        default = {"risk_tier": self.repository.default_risk_tier}
        for start in range(0, len(models), MODEL_CHUNK):  # new ones in bulk; model() reports what that left alone
            with transaction.atomic():
                chunk = models[start : start + MODEL_CHUNK]
                applier.new_models([(artifact, {**default, **update}) for _, artifact, _, update in chunk])
        tagged: dict[str, list[reading.GtoVersion]] = {}
        for slug, gv in new:
            tagged.setdefault(slug, []).append(gv)
        registrations = []  # (model, version, where, commit, fields) of every new version, model after model
        for slug, artifact, decl, update in models:
            model = applier.model(
                artifact, where=f"tags of {artifact}", commit=None,
                create={"risk_tier": self.repository.default_risk_tier, **update}, update=update,
            )  # fmt: skip
            if model is None:
                continue
            if slug in state.deprecated:
                applier.deprecate(model, f"tag {artifact}@deprecated")
            elif slug in state.revived:  # as GTO: a version registered (or any tag) since the deprecation revives it
                applier.undeprecate(model, f"tags of {artifact}")
            registrations += [
                (model, *self._registration(model, gv, decl, files, commits)) for gv in tagged.get(slug, ())
            ]
        for start in range(0, len(registrations), CHUNK):
            # A first sync registers thousands of versions of many models: one bulk write and one commit per chunk,
            # which locks its models and the audit chain once (a bad version is then retried, and reported, alone).
            with transaction.atomic():
                applier.new_versions(registrations[start : start + CHUNK])

    def _registration(self, model, gv: reading.GtoVersion, decl, files: dict, commits: dict) -> tuple:
        """(version, where, commit, fields) of a version a GTO tag registers (new_versions() takes the model first)."""
        sha, slug = gv.tag.target_sha, model.slug
        fields = {
            "artifact_uri": decl.path if decl else "",
            "source_metadata": reading.metadata_from(
                files, sha, self.state.directory(slug), self.problems, self.max_bytes
            ),
            **self._tag_fields(slug, gv.version, sha),
        }
        return gv.version, f"tag {gv.tag.name}", commits.get(sha), fields

    def _tag_fields(self, slug: str, version: str, commit: str) -> dict:
        """A version's tag, stages and deregistration, as the tags say now."""
        registered = self.state.versions.get((slug, version))
        registered_tag = registered.tag.name if registered and registered.tag.target_sha == commit else ""
        return {
            "git_tag": reading.release_tag(registered_tag, version, self.by_commit.get(commit, [])),
            "stages": sorted(self.state.stages.get((slug, commit), ())),
            "deregistered": bool(registered and registered.deregistered),
        }

    def _refresh_tags(self, applier: Applier) -> None:
        """Every Git version's tag fields follow the tags: added, moved or deleted since the last sync."""
        for model, version in applier.git_versions():
            fields = self._tag_fields(model.slug, version.version, version.git_commit_sha)
            applier.version(model, version.version, where=f"tags of {model.name}", commit=None, fields=fields)

    # -- anomalies ------------------------------------------------------------------------------------------

    def _history_rewritten(self, old: str, new: str) -> None:
        self.problems.warn(
            f"the history of {self.repository.branch} was rewritten (force-push): the last synced commit "
            f"{old[:10]} is no longer on it. Versions registered from the old history are kept."
        )
        with sync_context(self.repository, self.run), transaction.atomic():
            record(
                action=Action.GIT_HISTORY_REWRITTEN, actor=SYNC_ACTOR, target=self.repository,
                changes={"branch": [None, self.repository.branch], "head": [old, new]},
            )  # fmt: skip

    def _tags_moved(self, tags: list[git.Tag]) -> None:
        """Compare tags with what the last sync saw; report moved and deleted ones and remember the new state."""
        known = dict(KnownTag.objects.filter(repository=self.repository).values_list("name", "target_sha"))
        current = {}
        for tag in tags:
            if len(tag.name) <= reading.TAG_NAME_MAX:
                current[tag.name] = tag.target_sha
            else:
                self.problems.warn(f"tag {tag.name[:80]}… is over {reading.TAG_NAME_MAX} characters; not tracked")
        new = [KnownTag(repository=self.repository, name=n, target_sha=t) for n, t in current.items() if n not in known]
        KnownTag.objects.bulk_create(new, batch_size=1000)
        for name, old in known.items():
            target = current.get(name)
            if target is None:
                self.problems.warn(f"tag {name} was deleted (it pointed at {old[:10]}); nothing was removed")
                KnownTag.objects.filter(repository=self.repository, name=name).delete()
            elif target != old:
                self.problems.warn(f"tag {name} moved from {old[:10]} to {target[:10]}")
                with sync_context(self.repository, self.run), transaction.atomic():
                    KnownTag.objects.filter(repository=self.repository, name=name).update(target_sha=target)
                    record(
                        action=Action.GIT_TAG_MOVED, actor=SYNC_ACTOR, target=self.repository,
                        changes={"tag": [None, name], "target": [old, target]},
                    )  # fmt: skip
