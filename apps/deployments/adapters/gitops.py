"""GitOps: a Git repository of deployment manifests (Kubernetes Deployments, KServe InferenceServices, Seldon, any
YAML). What the branch head declares is what runs.

A manifest names its model through annotations (by default ``govportal.io/model``, ``govportal.io/version`` and
``govportal.io/digest`` under ``metadata.annotations``) or through a field (``field_path``, e.g.
``spec.predictor.model.storageUri``) whose value is matched against the artifact URIs of the model's versions.
For each model seen, the commit that introduced its current version is found in the file's history (who changed
it, when). Git goes through gitsync's one wrapper and its mirror cache.
"""

import fnmatch
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import yaml
from django.conf import settings

from apps.gitsync import git
from apps.gitsync.services import local_source_error, url_secret_error

from . import Deployed, DeployOrder, Observed, TargetError, names_model, normalise_digest
from ._config import only, refuse, text, text_list

FIELDS = {"url", "branch", "paths", "model_annotation", "version_annotation", "digest_annotation", "field_path"}
DEFAULTS = {
    "model_annotation": "govportal.io/model",
    "version_annotation": "govportal.io/version",
    "digest_annotation": "govportal.io/digest",
}
MAX_DEPTH = 64  # manifests are shallow; deeper nesting is refused before it is built
HISTORY_LIMIT = 200  # commits of one manifest searched for the one that introduced the running version
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FIELD = re.compile(r"^[A-Za-z0-9_.\-/\[\]]+$")


def clean_config(config) -> dict:
    config = only(config, FIELDS)
    url = text(config, "url", required=True)
    problem = url_secret_error(url)
    if problem:
        refuse(f"url: {problem}")
    try:
        url = git.check_url(url)
    except git.GitError as exc:
        refuse(f"url: {exc}")
    problem = local_source_error(url)
    if problem:
        refuse(f"url: {problem}")
    branch = text(config, "branch", default="main") or "main"
    try:
        git.check_branch(branch)
    except git.GitError as exc:
        refuse(f"branch: {exc}")
    cleaned = {"url": url, "branch": branch, "paths": text_list(config, "paths", required=True)}
    for key, default in DEFAULTS.items():
        cleaned[key] = text(config, key, default=default, limit=253) or default
    field_path = text(config, "field_path", limit=200)
    if field_path and not _FIELD.match(field_path):
        refuse("field_path must be a dotted path such as spec.predictor.model.storageUri.")
    cleaned["field_path"] = field_path
    return cleaned


def endpoint(config: dict) -> str:
    return config.get("url", "")


def _glob(pattern: str) -> re.Pattern:
    """A path glob where ``**`` spans directories and ``*`` does not (``envs/prod/**/*.yaml``)."""
    parts = []
    for piece in re.split(r"(\*\*/?)", pattern):
        if piece.startswith("**"):
            parts.append("(?:.*/)?" if piece.endswith("/") else ".*")
        else:
            parts.append(fnmatch.translate(piece).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*"))
    return re.compile("^" + "".join(parts) + "$")


def _mirror(target, secret) -> git.Mirror:
    url = target.config["url"]
    digest = hashlib.sha256(f"{url}\n{target.pk}".encode()).hexdigest()[:16]
    return git.Mirror(
        path=Path(settings.GITSYNC_MIRROR_DIR) / "targets" / f"{target.pk}-{digest}.git",
        url=url,
        credential=secret.value if secret else None,
        username=secret.username if secret else None,
        allowed_hosts=secret.hosts if secret else (),
        allow_local=url.startswith("/") or url.lower().startswith("file://"),
    )


def _documents(data: bytes, path: str) -> list[dict]:
    """The YAML documents of one manifest file, refusing aliases and deep nesting before building anything."""
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TargetError(f"{path}: not UTF-8") from None
    depth = 0
    try:
        for event in yaml.parse(source, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise TargetError(f"{path}: YAML aliases are not allowed in manifests")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise TargetError(f"{path}: nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return [doc for doc in yaml.load_all(source, Loader=_Loader) if isinstance(doc, dict)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise TargetError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _field(document, dotted: str):
    value = document
    for part in re.split(r"\.|\[(\d+)\]", dotted):
        if not part:
            continue
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value if isinstance(value, str | int | float) else None


def _observed(document: dict, path: str, config: dict) -> Observed | None:
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}

    def annotation(key: str) -> str:
        value = annotations.get(config[key])
        return str(value).strip()[:200] if isinstance(value, str | int | float) else ""

    model = annotation("model_annotation")
    uri = ""
    if config["field_path"]:
        value = _field(document, config["field_path"])
        uri = str(value).strip()[:1000] if value is not None else ""
        model = model or str(metadata.get("name") or "")[:200] if uri else model
    if not model:
        return None
    where = f"{path}#{document.get('kind') or 'document'}/{metadata.get('name') or '?'}"
    return Observed(
        model=model,
        version=annotation("version_annotation"),
        digest=normalise_digest(annotation("digest_annotation")),
        location=where[:500],
        artifact_uri=uri,
    )


def _declared(mirror: git.Mirror, commit: str, paths: list[str], config: dict) -> dict[str, list[Observed]]:
    limit = settings.GITSYNC_MAX_FILE_BYTES
    files = mirror.read_files([(commit, path) for path in paths], limit)
    declared = {}
    for (_, path), data in files.items():
        if isinstance(data, git.FileTooLarge):
            raise TargetError(f"{path}: {data.size} bytes, over the limit of {limit}")
        if data is None:
            continue
        found = [item for item in (_observed(doc, path, config) for doc in _documents(data, path)) if item]
        if found:
            declared[path] = found
    return declared


def _introduced(mirror: git.Mirror, path: str, current: list[Observed], config: dict) -> dict:
    """For each observed identity in `path`, the oldest commit since which the file has declared it unchanged."""
    commits = mirror.commits(config["branch"], paths=(path,))[-HISTORY_LIMIT:]
    contents = mirror.read_files([(c.sha, path) for c in commits], settings.GITSYNC_MAX_FILE_BYTES)
    found, open_ids = {}, {item.identity for item in current}
    for commit in reversed(commits):  # newest first: walk back while the identity is still declared
        data = contents.get((commit.sha, path))
        try:
            docs = _documents(data, path) if isinstance(data, bytes) else []
        except TargetError:
            docs = []
        present = {item.identity for item in (_observed(doc, path, config) for doc in docs) if item}
        for identity in list(open_ids):
            if identity in present:
                found[identity] = commit
            else:
                open_ids.discard(identity)
        if not open_ids:
            break
    return found


def observe(target, secret, known=frozenset()) -> list[Observed]:
    config = target.config
    mirror = _mirror(target, secret)
    try:
        mirror.ensure()
        mirror.fetch()
        head = mirror.head(config["branch"])
        if head is None:
            raise TargetError(f"the branch {config['branch']!r} does not exist in {git.redact(config['url'])}")
        patterns = [_glob(pattern) for pattern in config["paths"]]
        paths = [p for p in mirror.list_paths(head) if any(pattern.match(p) for pattern in patterns)]
        declared = _declared(mirror, head, paths, config)
        observed = []
        for path, items in declared.items():
            new = [item for item in items if item.identity not in known]
            introduced = _introduced(mirror, path, new, config) if new else {}
            for item in items:
                commit = introduced.get(item.identity)
                if commit is None:
                    observed.append(item)
                    continue
                author = f"{commit.author_name} <{commit.author_email}>"[:300]
                observed.append(replace(item, since=commit.committed_at, commit_sha=commit.sha, commit_author=author))
        return observed
    except git.GitError as exc:
        raise TargetError(f"could not read the repository: {exc}", transient=exc.transient) from None


# --- deploying: a commit that changes the manifests to the approved version, pushed as a fast-forward -------------

PUSH_ATTEMPTS = 3
_SEPARATOR = re.compile(r"(?m)(^---[ \t]*(?:#.*)?$)")


def _set_key(text: str, key: str, value: str, after: str | None) -> str:
    """`key: "value"` in one YAML document's text, replacing the line that holds it or inserting it after `after`."""
    pattern = re.compile(rf"(?m)^([ \t]*)([\"']?){re.escape(key)}\2[ \t]*:.*$")
    matches = list(pattern.finditer(text))
    line = f'"{value}"'
    if len(matches) > 1:
        raise TargetError(f"{key} appears more than once in one manifest; change it by hand")
    if matches:
        match = matches[0]
        return text[: match.start()] + f"{match[1]}{key}: {line}" + text[match.end() :]
    anchor = list(re.compile(rf"(?m)^([ \t]*)([\"']?){re.escape(after)}\2[ \t]*:.*$").finditer(text)) if after else []
    if len(anchor) != 1:
        raise TargetError(f"no {key} to change in the manifest, and nowhere to add it; change it by hand")
    return text[: anchor[0].end()] + f"\n{anchor[0][1]}{key}: {line}" + text[anchor[0].end() :]


def _rewrite(data: bytes, path: str, order, config: dict) -> tuple[bytes, bool]:
    """The file with every document that declares the ordered model set to the approved version; (bytes, found)."""
    pieces = _SEPARATOR.split(data.decode("utf-8"))
    found = False
    for index, piece in enumerate(pieces):
        if _SEPARATOR.fullmatch(piece) or not piece.strip():
            continue
        documents = _documents(piece.encode(), path)
        item = _observed(documents[0], path, config) if documents else None
        if item is None or not names_model(item.model, order):
            continue
        found = True
        text = _set_key(piece, config["version_annotation"], order.version, config["model_annotation"])
        if order.digest:
            text = _set_key(text, config["digest_annotation"], f"sha256:{order.digest}", config["version_annotation"])
        if config["field_path"] and order.artifact_uri:
            leaf = re.split(r"\.|\[\d+\]", config["field_path"])[-1] or config["field_path"]
            text = _set_key(text, leaf, order.artifact_uri, None)
        [check] = _documents(text.encode(), path)  # the change must still parse and say what was approved
        changed = _observed(check, path, config)
        if changed is None or changed.version != order.version or (order.digest and changed.digest != order.digest):
            raise TargetError(f"{path}: the changed manifest does not read back as {order.version}; change it by hand")
        pieces[index] = text
    return "".join(pieces).encode(), found


def deploy(target, secret, order: DeployOrder) -> Deployed:
    """Commit the approved version into the manifests that declare the model and push it (retried on a moved
    branch). Idempotent: when the branch already declares the approved version and digest, nothing is committed."""
    config = target.config
    mirror = _mirror(target, secret)
    try:
        mirror.ensure()
        for _attempt in range(PUSH_ATTEMPTS):
            mirror.fetch()
            head = mirror.head(config["branch"])
            if head is None:
                raise TargetError(f"the branch {config['branch']!r} does not exist in {git.redact(config['url'])}")
            patterns = [_glob(pattern) for pattern in config["paths"]]
            paths = [p for p in mirror.list_paths(head) if any(pattern.match(p) for pattern in patterns)]
            files = mirror.read_files([(head, path) for path in paths], settings.GITSYNC_MAX_FILE_BYTES)
            changed, found = {}, []
            for (_, path), data in files.items():
                if not isinstance(data, bytes):
                    continue
                new, declares = _rewrite(data, path, order, config)
                if declares:
                    found.append(path)
                if new != data:
                    changed[path] = new
            if not found:
                raise TargetError(
                    f"no manifest under {', '.join(config['paths'])} declares {order.model_slug}: add one by hand "
                    "for a model's first deployment, then the portal keeps its version in line"
                )
            if not changed:
                return Deployed(head, f"{', '.join(found)} already declare {order.version} at {head[:10]}", True)
            commit = mirror.commit_files(head, changed, order.message, order.author)
            try:
                mirror.push(commit, config["branch"])
            except git.GitError as exc:
                if "failed to push" in str(exc) or "rejected" in str(exc):
                    continue  # the branch moved meanwhile: read it again and redo the change on the fresh head
                raise
            return Deployed(commit, f"committed {commit[:10]} to {config['branch']} ({', '.join(sorted(changed))})")
        raise TargetError(f"the branch kept moving: gave up after {PUSH_ATTEMPTS} attempts", transient=True)
    except git.GitError as exc:
        raise TargetError(f"could not deploy through the repository: {exc}", transient=exc.transient) from None
