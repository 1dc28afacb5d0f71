"""Bring the inventory in line with what was read, through the inventory's own services, as `git-sync`.

Every created or changed model and version is one audit event (the inventory services record them) with the
repository, commit and sync run in its context. Nothing is deleted: a version that disappears from Git stays.
Each model and version is applied by one service call, which is its own transaction (a savepoint inside a sync's
chunk), so one bad declaration does not stop the others.
"""

import json
import logging
import re
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError
from django.utils.text import slugify

from apps.audit.actors import Actor
from apps.core import request_context
from apps.inventory import services as inventory
from apps.inventory.models import ModelVersion, RegisteredModel, Source

from . import git
from .reading import Problems

logger = logging.getLogger(__name__)
SYNC_ACTOR = Actor.system("git-sync")
DEPRECATED_TAG = "deprecated"
JSON_FIELDS = ("metrics", "parameters", "source_metadata")
# What one write may fail with besides the services' own refusals: a value the database or JSON cannot hold that no
# check caught (psycopg2 raises ValueError for a NUL, json TypeError for an odd type). It fails that write alone.
_REFUSED = (ValidationError, PermissionDenied, DataError, ValueError, TypeError)


def sync_context(repository, run, commit: str | None = None):
    """Audit context for a sync's writes: which repository, run and commit they came from."""
    extra = {"repository": repository.name, "repository_id": repository.pk, "sync_run": run.pk}
    if commit:
        extra["commit"] = commit
    return request_context.bind(extra=extra)  # the source is the caller's: task, web (Sync now in-process), command


def _messages(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "message_dict"):
            return "; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items())
        return " ".join(exc.messages)
    if not isinstance(exc, PermissionDenied):
        logger.warning("git sync: a write failed with %s", type(exc).__name__, exc_info=exc)
        return f"it could not be stored ({type(exc).__name__}: {str(exc).strip()[:200]})"
    return str(exc)


_POSITION = re.compile(r"versions\[(\d+)\]")


def _positions(exc: ValidationError) -> set[int]:
    """The entries a refused bulk registration names (its errors are keyed `versions[<position>].<field>`)."""
    keys = exc.message_dict if hasattr(exc, "error_dict") else {}
    return {int(match.group(1)) for key in keys if (match := _POSITION.match(key))}


def _json_error(fields: dict) -> str | None:
    """Why a JSON field cannot be stored (NaN and infinities are not JSON; PostgreSQL refuses them), else None."""
    for name in JSON_FIELDS:
        if name in fields:
            try:
                json.dumps(fields[name], allow_nan=False)
            except (ValueError, TypeError) as exc:
                return f"{name}: cannot be stored as JSON ({exc})"
    return None


@dataclass
class Applier:
    """Writes for one sync run; keeps the counts and the models this repository owns."""

    repository: object
    run: object
    problems: Problems
    created: set = field(default_factory=set)
    updated: set = field(default_factory=set)
    seen: set = field(default_factory=set)
    models: dict = field(default_factory=dict)  # slug → RegisteredModel owned by this repository
    versions: dict = field(default_factory=dict)  # (model pk, version) → ModelVersion

    def __post_init__(self):
        owned = RegisteredModel.objects.filter(source_repository_url=self.repository.url, team=self.repository.team)
        # By slug: govportal.yaml's "Churn Predictor" and GTO's churn-predictor are one model.
        self.models = {model.slug: model for model in owned.prefetch_related("tags")}
        for version in ModelVersion.objects.filter(model__in=list(self.models.values())):
            self.versions[(version.model_id, version.version)] = version

    def _context(self, commit: str | None):
        return sync_context(self.repository, self.run, commit)

    # -- models ---------------------------------------------------------------------------------------------

    def model(self, name: str, *, where: str, commit: str | None, create: dict, update: dict) -> object | None:
        """The repository's model `name`, registered with `create` if new, else brought to `update`."""
        slug = slugify(name)[:120]
        model = self.models.get(slug)
        if model is None:
            clash = RegisteredModel.objects.filter(slug=slug).select_related("team").first()
            if clash is not None:
                self.problems.error(
                    f"{where}: a model named {clash.name!r} already exists in {clash.team.name} and is not synced "
                    f"from this repository; it was left alone"
                )
                return None
            try:
                with self._context(commit):
                    model = inventory.registered_model_register(
                        actor=SYNC_ACTOR, team=self.repository.team, name=name,
                        source_repository_url=self.repository.url, **create,
                    )  # fmt: skip
            except _REFUSED as exc:
                self.problems.error(f"{where}: model {name!r} not registered: {_messages(exc)}")
                return None
            self.models[slug] = model
            return model
        changed = {key: value for key, value in update.items() if getattr(model, key) != value}
        if changed:
            try:
                with self._context(commit):
                    model = inventory.registered_model_update(actor=SYNC_ACTOR, model=model, **changed)
            except _REFUSED as exc:
                self.problems.error(f"{where}: model {name!r} not updated: {_messages(exc)}")
            self.models[slug] = model
        return model

    def new_models(self, specs: list[tuple[str, dict]]) -> None:
        """Register in one bulk write the models among `specs` ((name, create) as for model()) that neither this
        repository nor anyone else has yet. Whatever is left, or refused, model() then registers or reports alone."""
        slugs = [slugify(name)[:120] for name, _ in specs]
        taken = set(RegisteredModel.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        entries, seen = [], set()
        for (name, create), slug in zip(specs, slugs, strict=True):
            if slug and slug not in taken and slug not in seen and slug not in self.models:
                seen.add(slug)
                entries.append({"name": name, "source_repository_url": self.repository.url, **create})
        if not entries:
            return
        try:
            with self._context(None):
                created = inventory.registered_models_register_bulk(
                    actor=SYNC_ACTOR, team=self.repository.team, models=entries
                )
        except _REFUSED:
            return
        self.models |= {model.slug: model for model in created}

    def deprecate(self, model, where: str) -> None:
        names = [tag.name for tag in model.tags.all()]
        if DEPRECATED_TAG not in names:
            self._tags(model, [*names, DEPRECATED_TAG], f"{where}: could not mark {model.name} deprecated")

    def undeprecate(self, model, where: str) -> None:
        """Drop the `deprecated` tag of a model GTO shows active again (something happened since its deprecation)."""
        names = [tag.name for tag in model.tags.all()]
        if DEPRECATED_TAG in names:
            kept = [name for name in names if name != DEPRECATED_TAG]
            self._tags(model, kept, f"{where}: could not mark {model.name} active again")

    def _tags(self, model, names: list[str], failure: str) -> None:
        try:
            with self._context(None):
                self.models[model.slug] = inventory.registered_model_update(actor=SYNC_ACTOR, model=model, tags=names)
        except _REFUSED as exc:
            self.problems.error(f"{failure}: {_messages(exc)}")

    # -- versions -------------------------------------------------------------------------------------------

    def version(
        self, model, version: str, *, where: str, commit: git.Commit | None, fields: dict, on_create: dict | None = None
    ) -> None:
        """Create `version` at `commit` with `fields` and `on_create`, or bring an existing one to `fields`.

        An existing version keeps the commit it was registered at, and a version typed in by hand is never
        overwritten from Git.
        """
        key = (model.pk, version)
        self.seen.add(key)
        existing = self.versions.get(key)
        problem = _json_error(fields)
        if problem:
            self.problems.error(
                f"{where}: {model.name} {version} not {'updated' if existing else 'registered'}: {problem}"
            )
            return
        if existing is None:
            if commit is None:
                return
            try:
                with self._context(commit.sha):
                    self.versions[key] = inventory.model_version_create(
                        actor=SYNC_ACTOR, model=model, version=version, source=Source.GIT,
                        **self._created(commit), **fields, **(on_create or {}),
                    )  # fmt: skip
            except _REFUSED as exc:
                self.problems.error(f"{where}: {model.name} {version} not registered: {_messages(exc)}")
                return
            self.created.add(key)
            return
        if existing.source != Source.GIT:
            self.problems.warn(f"{where}: {model.name} {version} was entered by hand; Git does not overwrite it")
            return
        changed = {name: value for name, value in fields.items() if getattr(existing, name) != value}
        if not changed:
            return
        try:
            with self._context(existing.git_commit_sha):
                self.versions[key] = inventory.model_version_update(actor=SYNC_ACTOR, version=existing, **changed)
        except _REFUSED as exc:
            self.problems.error(f"{where}: {model.name} {version} not updated: {_messages(exc)}")
            return
        if key not in self.created:
            self.updated.add(key)

    def new_versions(self, items: list[tuple]) -> None:
        """Register new versions, of any number of models, in one bulk write: `items` are (model, version, where,
        commit, fields), as for version(). Their models are locked together and the audit chain appended once, each
        version still its own `version.created` event naming its commit. When the service refuses the batch, the
        versions it named go one by one through version(), which reports each refusal as before, and the others are
        written in bulk again; when it names none (a value the database refused), all go one by one."""
        bulk, alone, keys = [], [], set()
        for item in items:
            model, version, _, commit, fields = item
            key = (model.pk, version)
            if key in self.versions or key in keys or commit is None or _json_error(fields):
                alone.append(item)  # version() updates, skips or reports it, exactly as it always did
                continue
            keys.add(key)
            bulk.append(item)
        for _ in range(2):
            refused = self._create(bulk) if bulk else None
            if refused is None:
                bulk = []
                break
            named = refused if len(refused) < len(bulk) else set()
            alone += [item for i, item in enumerate(bulk) if i in named or not named]
            bulk = [item for i, item in enumerate(bulk) if named and i not in named]
        for model, version, where, commit, fields in alone + bulk:
            self.version(model, version, where=where, commit=commit, fields=fields)

    def _create(self, items: list[tuple]) -> set[int] | None:
        """Create `items` in one call of the bulk service: None when done, else the positions it refused (an empty
        set when it named none)."""
        pairs = [
            (model, {"version": version, **self._created(commit), **fields})
            for model, version, _, commit, fields in items
        ]
        try:
            with self._context(None):
                created = inventory.model_versions_create_bulk_across(
                    actor=SYNC_ACTOR, versions=pairs, source=Source.GIT,
                    contexts=[{"commit": commit.sha} for _, _, _, commit, _ in items],
                )  # fmt: skip
        except _REFUSED as exc:
            return _positions(exc) if isinstance(exc, ValidationError) else set()
        for (model, version, *_), new in zip(items, created, strict=True):
            key = (model.pk, version)
            self.seen.add(key)
            self.created.add(key)
            self.versions[key] = new
        return None

    @staticmethod
    def _created(commit: git.Commit) -> dict:
        """The fields a version created from `commit` takes from it."""
        author = f"{commit.author_name} <{commit.author_email}>"
        return {
            "git_commit_sha": commit.sha,
            "git_author": author if len(author) <= 300 else f"{author[:299]}…",
            "git_committed_at": commit.committed_at,
        }

    def existing(self, slug: str, version: str):
        model = self.models.get(slug)
        return self.versions.get((model.pk, version)) if model is not None else None

    def git_versions(self):
        """Every Git-sourced version of this repository's models, with its model."""
        by_pk = {model.pk: model for model in self.models.values()}
        return [
            (by_pk[model_pk], version)
            for (model_pk, _), version in self.versions.items()
            if version.source == Source.GIT and model_pk in by_pk
        ]

    @property
    def counts(self) -> tuple[int, int, int]:
        return len(self.created), len(self.updated), len(self.seen - self.created - self.updated)
