"""Every write to the inventory: permission and domain checks, the change, and its audit event, in one transaction."""

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify

from apps.accounts import permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import diff, record, record_many

from . import policies, signals, validators
from .models import ModelVersion, RegisteredModel, Source, Tag

MODEL_FIELDS = (
    "name", "description", "risk_tier", "eu_ai_act_category", "intended_use", "limitations",
    "source_repository_url", "source_path", "validator", "last_validated_on", "next_validation_due",
)  # fmt: skip
VERSION_FIELDS = (
    "git_commit_sha", "artifact_uri", "artifact_digest", "framework", "metrics", "parameters",
    "model_card", "training_data", "parent",
    "git_tag", "git_author", "git_committed_at", "stages", "source_metadata", "deregistered",
)  # fmt: skip


def _model_snapshot(model: RegisteredModel, owners, tags) -> dict:
    """The audited view of a model: labels, not ids, so the record reads on its own."""
    return {
        "name": model.name,
        "team": model.team.name,
        "description": model.description,
        "risk_tier": model.risk_tier,
        "eu_ai_act_category": model.eu_ai_act_category,
        "intended_use": model.intended_use,
        "limitations": model.limitations,
        "lifecycle_status": model.lifecycle_status,
        "owners": sorted(user.username for user in owners),
        "tags": sorted(tag.name if isinstance(tag, Tag) else tag for tag in tags),
        "source_repository_url": model.source_repository_url,
        "source_path": model.source_path,
        "validator": model.validator.username if model.validator else None,
        "last_validated_on": model.last_validated_on,
        "next_validation_due": model.next_validation_due,
    }


def _clean_tags(tags) -> list[str]:
    names = sorted({str(tag).strip().lower() for tag in tags if str(tag).strip()})
    errors = []
    for name in names:
        try:
            validators.validate_tag(name)
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"tags": errors})
    return names


def _check_model(model: RegisteredModel, owners) -> None:
    errors = {}
    if policies.validator_conflict(model.validator_id, {user.pk for user in owners}):
        errors["validator"] = ["The validator must be independent: pick someone who is not an owner."]
    dates_error = policies.validation_dates_error(model.last_validated_on, model.next_validation_due)
    if dates_error:
        errors["next_validation_due"] = [dates_error]
    try:
        model.full_clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            if field == "slug":  # the slug comes from the name: say so in the name's terms
                field, messages = (
                    "name",
                    [f"A model with this name (or one too similar: /models/{model.slug}/) exists."],
                )
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _save_tags(model: RegisteredModel, names: list[str]) -> None:
    model.tags.set([Tag.objects.get_or_create(name=name)[0] for name in names])
    model.tag_names = tag_text(names)  # what search reads (see RegisteredModel.tag_names)
    RegisteredModel.objects.filter(pk=model.pk).update(tag_names=model.tag_names)


def tag_text(names) -> str:
    """RegisteredModel.tag_names for these tags: " credit pd ", so LIKE '% credit %' finds a whole tag."""
    names = sorted(names)
    return f" {' '.join(names)} " if names else ""


@transaction.atomic
def registered_model_register(
    *, actor: Actor, team, name: str, risk_tier: str, owners=(), tags=(), **fields
) -> RegisteredModel:
    """Register a new model in `team`'s inventory (contributors and admins of the team)."""
    permissions.require_actor(actor, permissions.REGISTER, team, f"You may not register models in {team}.")
    unknown = set(fields) - set(MODEL_FIELDS)  # a new model starts in development: lifecycle has its own service
    if unknown:
        raise ValidationError(f"Unknown model fields: {', '.join(sorted(unknown))}.")
    owners = list(owners)
    tag_names = _clean_tags(tags)
    model = RegisteredModel(
        team=team,
        name=(name or "").strip(),
        slug=slugify(name or "")[:120],
        risk_tier=risk_tier,
        created_by=actor.user,
        **fields,
    )
    if not model.slug:
        raise ValidationError({"name": ["Enter a name with at least one letter or digit."]})
    _check_model(model, owners)
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError:
        raise ValidationError({"name": [f"A model named {model.name!r} already exists."]}) from None
    model.owners.set(owners)
    _save_tags(model, tag_names)
    record(
        action=Action.MODEL_REGISTERED, actor=actor, target=model, changes=_registered_changes(model, owners, tag_names)
    )
    return model


def _registered_changes(model: RegisteredModel, owners, tags) -> dict:
    """What `model.registered` records: each field the new model has a value in, as [None, value]."""
    snapshot = _model_snapshot(model, owners, tags)
    return {key: [None, value] for key, value in snapshot.items() if value not in (None, "", [])}


@transaction.atomic
def registered_models_register_bulk(*, actor: Actor, team, models: list[dict]) -> list[RegisteredModel]:
    """Register many new models in `team` at once, all or none, by the rules of registered_model_register (without
    owners or tags): each entry holds a `name`, a `risk_tier` and MODEL_FIELDS, and each model is its own
    `model.registered` event, appended to the audit chain in one go. A bad entry refuses the batch with errors keyed
    `models[<position>].<field>`. A fixed number of queries, whatever the number of models (for Git sync)."""
    permissions.require_actor(actor, permissions.REGISTER, team, f"You may not register models in {team}.")
    if len(models) > MAX_VERSIONS_PER_BATCH:
        raise ValidationError({"models": [f"At most {MAX_VERSIONS_PER_BATCH:,} models in one batch."]})
    unknown = {key for entry in models for key in entry} - {"name", "risk_tier", *MODEL_FIELDS}
    if unknown:
        raise ValidationError(f"Unknown model fields: {', '.join(sorted(unknown))}.")
    new = [
        RegisteredModel(team=team, created_by=actor.user, **{**entry, "name": (entry.get("name") or "").strip()})
        for entry in models
    ]
    for model in new:
        model.slug = slugify(model.name)[:120]
    taken = RegisteredModel.objects.filter(
        Q(name__in=[m.name for m in new]) | Q(slug__in=[m.slug for m in new])
    ).values_list("name", "slug")
    names, slugs = {name for name, _ in taken}, {slug for _, slug in taken}
    errors = {}
    for index, model in enumerate(new):
        problems = {}
        if not model.slug:
            problems["name"] = ["Enter a name with at least one letter or digit."]
        elif model.name in names or model.slug in slugs:
            problems["name"] = [f"A model with this name (or one too similar: /models/{model.slug}/) exists."]
        names.add(model.name)
        slugs.add(model.slug)
        dates_error = policies.validation_dates_error(model.last_validated_on, model.next_validation_due)
        if dates_error:
            problems["next_validation_due"] = [dates_error]
        try:  # names were checked above, in one query; the database enforces the constraints
            model.full_clean(exclude=["team", "created_by", "validator", *([] if model.slug else ["slug"])],
                             validate_unique=False, validate_constraints=False)  # fmt: skip
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                problems.setdefault(field, []).extend(messages)
        for field, messages in problems.items():
            errors[f"models[{index}]" if field == NON_FIELD_ERRORS else f"models[{index}].{field}"] = messages
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            RegisteredModel.objects.bulk_create(new)
    except IntegrityError:
        raise ValidationError({"models": ["A model of one of these names was registered meanwhile."]}) from None
    record_many([(Action.MODEL_REGISTERED, actor, model, _registered_changes(model, [], [])) for model in new])
    return new


@transaction.atomic
def registered_model_update(
    *, actor: Actor, model: RegisteredModel, owners=None, tags=None, **fields
) -> RegisteredModel:
    """Edit a model's metadata; records one `model.updated` event with what changed, or nothing if nothing did."""
    # of=self: PostgreSQL refuses FOR UPDATE on the nullable side of the outer join to the validator.
    locked = RegisteredModel.objects.select_for_update(of=("self",))
    model = locked.select_related("team", "validator").get(pk=model.pk)
    permissions.require_actor(actor, permissions.CHANGE, model, f"You may not edit {model.name}.")
    unknown = set(fields) - set(MODEL_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown model fields: {', '.join(sorted(unknown))}.")
    old_owners, old_tags = list(model.owners.all()), [tag.name for tag in model.tags.all()]
    before = _model_snapshot(model, old_owners, old_tags)
    new_owners = list(owners) if owners is not None else old_owners
    new_tags = _clean_tags(tags) if tags is not None else old_tags
    for field, value in fields.items():
        setattr(model, field, value.strip() if isinstance(value, str) and field == "name" else value)
    _check_model(model, new_owners)
    changes = diff(before, _model_snapshot(model, new_owners, new_tags))
    if not changes:
        return model
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError:
        raise ValidationError({"name": [f"A model named {model.name!r} already exists."]}) from None
    if owners is not None:
        model.owners.set(new_owners)
    if tags is not None:
        _save_tags(model, new_tags)
    record(action=Action.MODEL_UPDATED, actor=actor, target=model, changes=changes)
    return model


@transaction.atomic
def registered_model_set_lifecycle(
    *, actor: Actor, model: RegisteredModel, status: str, reason: str = ""
) -> RegisteredModel:
    """Move a model through development → validation → production → retired, with a reason on record."""
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    permissions.require(
        actor.user, permissions.CHANGE_LIFECYCLE, model, f"You may not change the lifecycle of {model.name}."
    )
    error = policies.lifecycle_transition_error(model.lifecycle_status, status)
    if error:
        raise ValidationError({"status": [error]})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the lifecycle status changes; the reason goes on record."]})
    if len(reason) > 1000:
        raise ValidationError({"reason": ["Keep the reason under 1000 characters."]})
    old = model.lifecycle_status
    model.lifecycle_status = status
    model.save(update_fields=["lifecycle_status", "updated_at"])
    record(
        action=Action.MODEL_LIFECYCLE_CHANGED,
        actor=actor,
        target=model,
        changes={"lifecycle_status": [old, status], "reason": [None, reason]},
    )
    return model


def _version_snapshot(version: ModelVersion) -> dict:
    return {
        "version": version.version,
        "git_commit_sha": version.git_commit_sha,
        "artifact_uri": version.artifact_uri,
        "artifact_digest": version.artifact_digest,
        "framework": version.framework,
        "metrics": version.metrics,
        "parameters": version.parameters,
        "model_card": version.model_card,
        "training_data": version.training_data,
        "parent": str(version.parent) if version.parent_id else None,
        "source": version.source,
        "git_tag": version.git_tag,
        "git_author": version.git_author,
        "git_committed_at": version.git_committed_at,
        "stages": version.stages,
        "source_metadata": version.source_metadata,
        "deregistered": version.deregistered,
    }


def _visible_parents(versions, actor: Actor, seen: dict | None = None) -> dict:
    """The parents `versions` name that the actor may see, by id, each with its model: one query for any number.
    `seen` holds the locked models the actor may see, by pk: a parent that is a version of one of them is visible
    (a version is visible with its model), so it costs no query, and takes the locked row as its model."""
    seen, visible = seen or {}, {}
    for version in versions:
        if version.parent_id and version.parent.model_id in seen:
            version.parent.model = seen[version.parent.model_id]
            visible[version.parent_id] = version.parent
    ids = {version.parent_id for version in versions if version.parent_id and version.parent_id not in visible}
    if ids:
        visible |= ModelVersion.objects.restrict(actor.user).select_related("model").order_by().in_bulk(ids)  # unsorted
    return visible


def _lineage_error(version: ModelVersion, actor: Actor, visible: dict | None = None) -> str | None:
    """A parent must be visible to the actor and must not descend from the version itself."""
    if not version.parent_id:
        return None
    if visible is None:
        visible = _visible_parents([version], actor)
    if version.parent_id not in visible:
        return "Choose a parent version you can see."
    if version.pk is None:
        return None  # a new version has no descendants yet: there is no cycle to look for
    seen, current = set(), version.parent_id
    while current is not None and current not in seen:
        if current == version.pk:
            return "A version cannot be derived from itself or from one of its own descendants."
        seen.add(current)
        current = ModelVersion.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return None


def _version_errors(version: ModelVersion, actor: Actor, visible: dict | None = None) -> dict[str, list[str]]:
    """Normalises the digest and commit, then {field: messages} of what is wrong with the version ({} if nothing)."""
    version.artifact_digest = validators.normalize_digest(version.artifact_digest)
    version.git_commit_sha = (version.git_commit_sha or "").strip().lower()
    errors = {}
    lineage = _lineage_error(version, actor, visible)
    if lineage:
        errors["parent"] = [lineage]
    try:
        # The caller locked the model, the unique version is checked first, and the database enforces the
        # constraints: skipping those re-checks saves a quarter of the queries of a bulk Git sync. The parent was
        # checked above and the creator is the actor: their existence checks would cost a query per version.
        version.full_clean(exclude=["model", "parent", "created_by"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    return errors


def _clean_version(version: ModelVersion, actor: Actor) -> None:
    errors = _version_errors(version, actor)
    if errors:
        raise ValidationError(errors)


# A bulk registration holds the model's lock and the audit chain's head for its whole transaction: bounded, so one
# request cannot hold them for long or send a body the server would refuse as too large anyway.
MAX_VERSIONS_PER_BATCH = 1000


def _lock_for_new_versions(actor: Actor, models) -> tuple[dict[int, RegisteredModel], dict[int, RegisteredModel]]:
    """The models by pk, locked so each one's versions are added by one writer at a time, once the actor may add them:
    one SELECT ... FOR UPDATE in pk order, so two writers locking overlapping sets cannot deadlock. Also those of them
    the actor may see, whose versions are then parents it may name (asked with the same question: one query). Without
    their teams: adding versions reads only the team's id, and joining the teams made the lock a third dearer."""
    pks = sorted({model.pk for model in models})
    locked = RegisteredModel.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    found = {model.pk: model for model in locked}
    missing = [pk for pk in pks if pk not in found]
    if missing:
        raise RegisteredModel.DoesNotExist(f"RegisteredModel matching query does not exist (pk {missing[0]}).")
    seen = {}
    for model in found.values():
        allowed = permissions.actor_allowed(actor, (permissions.CHANGE, permissions.VIEW), model)
        if permissions.CHANGE not in allowed:
            raise PermissionDenied(f"You may not add versions to {model.name}.")
        if permissions.VIEW in allowed:
            seen[model.pk] = model
    return found, seen


def _new_versions(*, actor: Actor, source: str, pairs) -> list[ModelVersion]:
    """Unsaved versions as the actor makes them: one per (model, entry), the entry its `version` and VERSION_FIELDS."""
    unknown = {key for _, entry in pairs for key in entry} - {"version", *VERSION_FIELDS}
    if unknown:
        raise ValidationError(f"Unknown version fields: {', '.join(sorted(unknown))}.")
    return [
        ModelVersion(model=model, source=source, created_by=actor.user,
                     **{**entry, "version": (entry.get("version") or "").strip()})
        for model, entry in pairs
    ]  # fmt: skip


def _batch_errors(versions: list[ModelVersion], actor: Actor, seen: dict) -> dict[int, dict]:
    """{position: {field: messages}} for the new versions of the locked models that may not be added: a version
    string used before (by its model, or earlier in the batch), a bad field or parent. Queries: one, and one more
    for parents outside `seen` (the locked models the actor may see), whatever the number of versions and models."""
    taken = set(
        ModelVersion.objects.filter(model__in={v.model_id for v in versions}, version__in={v.version for v in versions})
        .order_by()  # the default ordering would join the models' table for nothing
        .values_list("model_id", "version")
    )
    visible, first = _visible_parents(versions, actor, seen), {}
    problems = {}
    for index, version in enumerate(versions):
        errors, key = {}, (version.model_id, version.version)
        # Named first, and in the version's own terms: full_clean's generic unique message would not name it.
        if key in taken:
            errors["version"] = [f"{version.model.name} already has a version {version.version}."]
        elif key in first:
            errors["version"] = [f"Version {version.version} is already in this batch, at versions[{first[key]}]."]
        first.setdefault(key, index)
        for field, messages in _version_errors(version, actor, visible).items():
            errors.setdefault(field, []).extend(messages)
        if errors:
            problems[index] = errors
        elif version.parent_id:
            version.parent = visible[version.parent_id]  # with its model: the audit label reads it
    return problems


def _created_changes(version: ModelVersion) -> dict:
    """What `version.created` records: each field the new version has a value in, as [None, value]."""
    snapshot = _version_snapshot(version)
    return {key: [None, value] for key, value in snapshot.items() if value not in (None, "", [], {}, False)}


def _add_versions(*, actor: Actor, pairs, seen: dict, source: str, name, contexts=None) -> list[ModelVersion]:
    """Every (locked model, entry) checked, then all inserted in one statement with a `version.created` event each (one
    append to the audit chain) and each model's stored count and latest version moved in one more; nothing written if
    any entry is bad. `name(position, field)` names an error's field, and `contexts` (one dict per entry, or None)
    add to each event's context; `seen` are the locked models the actor may see (_lock_for_new_versions)."""
    versions = _new_versions(actor=actor, source=source, pairs=pairs)
    problems = _batch_errors(versions, actor, seen)
    if problems:
        raise ValidationError(
            {name(index, field): messages for index, errors in problems.items() for field, messages in errors.items()}
        )
    if not versions:
        return []
    ModelVersion.objects.bulk_create(versions)
    # The lists read the count and the latest version from the model row: kept here, under the models' locks (so the
    # counts read with the lock are current). Each model's newest is the last of its versions created.
    latest = {}
    for version in versions:
        model = version.model
        model.version_count += 1
        latest[model.pk] = version
    for version in latest.values():
        model = version.model
        model.latest_version = version
        model.latest_version_at = model.updated_at = version.created_at
    fields = ["updated_at", "version_count", "latest_version", "latest_version_at"]
    if len(latest) == 1:  # one model (every single registration): a plain UPDATE, not bulk_update's CASE per field
        [model] = [version.model for version in latest.values()]
        RegisteredModel.objects.filter(pk=model.pk).update(**{field: getattr(model, field) for field in fields})
    else:
        RegisteredModel.objects.bulk_update([version.model for version in latest.values()], fields)
    # The audit chain's head is locked last: every writer in the portal waits on it, until this transaction commits.
    extras = contexts or [None] * len(versions)
    record_many(
        [
            (Action.VERSION_CREATED, actor, v, _created_changes(v), extra)
            for v, extra in zip(versions, extras, strict=True)
        ]
    )
    return versions


@transaction.atomic
def model_version_create(
    *, actor: Actor, model: RegisteredModel, version: str, source: str = Source.MANUAL, **fields
) -> ModelVersion:
    """Add a version to a model; a version string is used once per model."""
    locked, seen = _lock_for_new_versions(actor, [model])
    entry = {"version": version, **fields}
    pairs = [(locked[model.pk], entry)]
    [created] = _add_versions(actor=actor, pairs=pairs, seen=seen, source=source, name=lambda _, field: field)
    return created


def _entry_field(index: int, field: str) -> str:
    """An error's key in a batch: `versions[3].artifact_digest`, or `versions[3]` for the entry as a whole."""
    return f"versions[{index}]" if field == NON_FIELD_ERRORS else f"versions[{index}].{field}"


def _check_batch_size(count: int) -> None:
    if count > MAX_VERSIONS_PER_BATCH:
        raise ValidationError(
            {"versions": [f"At most {MAX_VERSIONS_PER_BATCH:,} versions in one batch, not {count:,}: "
                          "send them in several."]}
        )  # fmt: skip


@transaction.atomic
def model_versions_create_bulk(
    *, actor: Actor, model: RegisteredModel, versions: list[dict], source: str = Source.MANUAL, contexts=None
) -> list[ModelVersion]:
    """Add many versions to a model at once, all or none, by the rules of model_version_create: each entry holds a
    `version` and VERSION_FIELDS, and each version created is its own `version.created` event (with its entry's dict
    from `contexts` in the event's context, for a Git sync's commits). A bad entry refuses the batch with errors
    keyed `versions[<position>].<field>`. A fixed number of queries, whatever the number."""
    locked, seen = _lock_for_new_versions(actor, [model])
    _check_batch_size(len(versions))
    pairs = [(locked[model.pk], entry) for entry in versions]
    return _add_versions(actor=actor, pairs=pairs, seen=seen, source=source, name=_entry_field, contexts=contexts)


@transaction.atomic
def model_versions_create_bulk_across(
    *, actor: Actor, versions: list[tuple[RegisteredModel, dict]], source: str = Source.MANUAL, contexts=None
) -> list[ModelVersion]:
    """model_versions_create_bulk for the versions of many models at once: `versions` are (model, entry) pairs. The
    models are locked together, in pk order; the versions go in one INSERT and their events in one append to the
    audit chain, each still its own `version.created` event naming its model; errors are keyed by position in
    `versions`. A fixed number of queries, whatever the number of versions and models (for a Git sync's first run)."""
    _check_batch_size(len(versions))
    locked, seen = _lock_for_new_versions(actor, [model for model, _ in versions])
    pairs = [(locked[model.pk], entry) for model, entry in versions]
    return _add_versions(actor=actor, pairs=pairs, seen=seen, source=source, name=_entry_field, contexts=contexts)


@transaction.atomic
def model_version_update(*, actor: Actor, version: ModelVersion, **fields) -> ModelVersion:
    """Edit a version's metadata (not its version string); one `version.updated` event with the diff."""
    # of=self: PostgreSQL refuses FOR UPDATE on the nullable side of the outer join to the parent.
    locked = ModelVersion.objects.select_for_update(of=("self",))
    version = locked.select_related("model", "parent__model").get(pk=version.pk)
    permissions.require_actor(
        actor, permissions.CHANGE, version.model, f"You may not edit versions of {version.model.name}."
    )
    unknown = set(fields) - set(VERSION_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown or read-only version fields: {', '.join(sorted(unknown))}.")
    before = _version_snapshot(version)
    for field, value in fields.items():
        setattr(version, field, value)
    _clean_version(version, actor)
    changes = diff(before, _version_snapshot(version))
    if not changes:
        return version
    version.save()
    record(action=Action.VERSION_UPDATED, actor=actor, target=version, changes=changes)
    if "artifact_digest" in changes:
        signals.version_artifact_changed.send(
            sender=ModelVersion, actor=actor, version=version, old_digest=changes["artifact_digest"][0]
        )
    return version


ENVIRONMENT_FIELDS = ("name", "slug", "order", "protected", "rollout_grace_minutes", "description")


@transaction.atomic
def environment_save(*, actor: Actor, environment=None, **fields):
    """Create or change a deployment environment (administrators only); audited as a diff."""
    from .models import Environment

    permissions.require_portal_admin(actor.user, "Only administrators can manage environments.")
    unknown = set(fields) - set(ENVIRONMENT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown environment fields: {', '.join(sorted(unknown))}.")
    creating = environment is None or environment.pk is None
    if creating:
        environment = environment or Environment()
        before = {}
    else:
        environment = Environment.objects.select_for_update().get(pk=environment.pk)
        before = {field: getattr(environment, field) for field in ENVIRONMENT_FIELDS}
    for field, value in fields.items():
        setattr(environment, field, value)
    if not environment.slug:
        environment.slug = slugify(environment.name)
    environment.full_clean()
    changes = diff(before, {field: getattr(environment, field) for field in ENVIRONMENT_FIELDS})
    if not changes:
        return environment
    environment.save()
    action = Action.ENVIRONMENT_CREATED if creating else Action.ENVIRONMENT_UPDATED
    record(action=action, actor=actor, target=environment, changes=changes)
    return environment
