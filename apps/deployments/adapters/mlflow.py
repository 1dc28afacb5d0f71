"""MLflow Model Registry aliases: the version an alias (e.g. ``production``) points at is what runs.

Read through MLflow's REST API: the registered models carrying the alias (``registered-models/search``, paged),
or the ``models`` listed in the configuration, then for each the version behind the alias
(``registered-models/alias``). A version names itself with its tags: ``govportal.version`` (else MLflow's version
number) and ``govportal.digest`` or ``sha256`` (a sha256 digest, else none); its ``source`` is the artifact URI.
"""

import re
from urllib.parse import urlencode

from . import Deployed, DeployOrder, Observed, TargetError, normalise_digest
from ._config import http_url, only, refuse, text, text_list
from ._http import Client, bearer_or_basic

FIELDS = {"url", "alias", "models"}
API = "/api/2.0/mlflow"
PAGE_SIZE = 200
MAX_PAGES = 50  # 10,000 registered models; past that, list the models to watch
VERSION_TAG, DIGEST_TAGS = "govportal.version", ("govportal.digest", "sha256")
_ALIAS = re.compile(r"^[\w\-]+$")
_RESERVED = re.compile(r"^(?:latest|[vV]\d+)$", re.IGNORECASE)
_NOT_THERE = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}  # no such model, or the alias is not set


def clean_config(config) -> dict:
    config = only(config, FIELDS)
    url = http_url(config)
    alias = text(config, "alias", required=True, limit=255)
    if not _ALIAS.match(alias) or _RESERVED.match(alias):
        refuse("alias must be an MLflow alias name such as production: letters, digits, _ and -, not latest or v1.")
    return {"url": url, "alias": alias, "models": text_list(config, "models")}


def endpoint(config: dict) -> str:
    return config.get("url", "")


def _error(client: Client, answer, what: str) -> TargetError:
    try:
        data = answer.json(what)
    except TargetError:
        data = None
    if answer.status == 404 and not (isinstance(data, dict) and "error_code" in data):
        return TargetError(f"no MLflow REST API at {client.base_url}: {what} answered HTTP 404")
    detail = client.message_of(answer)
    return TargetError(f"{what} answered HTTP {answer.status}" + (f": {detail}" if detail else ""))


def _aliased(client: Client, alias: str) -> list[str]:
    """Names of the registered models that carry `alias`, in the registry's order."""
    names, token, what = [], "", "GET registered-models/search"
    for _ in range(MAX_PAGES):
        query = {"max_results": PAGE_SIZE, **({"page_token": token} if token else {})}
        answer = client.request(f"{API}/registered-models/search?{urlencode(query)}", what=what)
        if answer.status >= 400:
            raise _error(client, answer, what)
        page = answer.json(what)
        if not isinstance(page, dict):
            raise TargetError(f"{what}: the answer is not a JSON object")
        for model in page.get("registered_models") or []:
            aliases = model.get("aliases") if isinstance(model, dict) else None
            if isinstance(aliases, list) and any(isinstance(a, dict) and a.get("alias") == alias for a in aliases):
                names.append(str(model.get("name") or ""))
        token = page.get("next_page_token") or ""
        if not token:
            return [name for name in names if name]
    raise TargetError(f"more than {PAGE_SIZE * MAX_PAGES} registered models: list the ones to watch in models")


def _version(client: Client, name: str, alias: str) -> dict | None:
    """The model version `alias` points at, or None when the model or the alias does not exist."""
    what = f"GET registered-models/alias for {name!r}@{alias}"
    answer = client.request(f"{API}/registered-models/alias?{urlencode({'name': name, 'alias': alias})}", what=what)
    if answer.status in (400, 404):
        try:
            data = answer.json(what)
        except TargetError:
            data = None
        if isinstance(data, dict) and data.get("error_code") in _NOT_THERE:
            return None
    if answer.status >= 400:
        raise _error(client, answer, what)
    data = answer.json(what)
    version = data.get("model_version") if isinstance(data, dict) else None
    if not isinstance(version, dict) or not version.get("version"):
        raise TargetError(f"{what}: the answer names no model version")
    return version


def _observed(name: str, alias: str, version: dict) -> Observed:
    tags = {
        str(tag.get("key")): str(tag.get("value") or "")
        for tag in version.get("tags") or []
        if isinstance(tag, dict) and tag.get("key")
    }
    digest = next((found for key in DIGEST_TAGS if (found := normalise_digest(tags.get(key)))), "")
    return Observed(
        model=name[:200],
        version=(tags.get(VERSION_TAG, "").strip() or str(version["version"]))[:200],
        digest=digest,
        location=f"{name}@{alias}"[:500],
        artifact_uri=str(version.get("source") or "")[:1000],
    )


def observe(target, secret, known=frozenset()) -> list[Observed]:
    config = target.config
    alias = config["alias"]
    client = Client(config["url"], authorization=bearer_or_basic(secret), secret=secret)
    names = config["models"] or _aliased(client, alias)
    observed = []
    for name in names:
        version = _version(client, name, alias)
        if version is not None:
            observed.append(_observed(name, alias, version))
    return observed


# --- deploying: point the alias at the MLflow version that carries the approved version and digest ---------------


def _model_name(client: Client, order) -> str:
    """The registered model the order means: the one named like the model (its name, then its slug)."""
    for name in dict.fromkeys([order.model_name, order.model_slug]):
        what = f"GET registered-models/get for {name!r}"
        answer = client.request(f"{API}/registered-models/get?{urlencode({'name': name})}", what=what)
        if answer.status < 400:
            return name
        if answer.status >= 500:
            raise _error(client, answer, what)
    raise TargetError(f"the MLflow registry has no registered model named {order.model_name!r} or {order.model_slug!r}")


def _candidates(client: Client, name: str) -> list[dict]:
    what = f"GET model-versions/search for {name!r}"
    query = urlencode({"filter": f"name='{name}'", "max_results": 1000})
    answer = client.request(f"{API}/model-versions/search?{query}", what=what)
    if answer.status >= 400:
        raise _error(client, answer, what)
    data = answer.json(what)
    versions = data.get("model_versions") if isinstance(data, dict) else None
    return [version for version in versions or [] if isinstance(version, dict) and version.get("version")]


def deploy(target, secret, order: DeployOrder) -> Deployed:
    """Move the alias to the MLflow version that names the approved version (tag govportal.version, else its
    number) and carries the approved digest; refuse a version whose digest is missing or differs. Idempotent."""
    alias = target.config["alias"]
    client = Client(target.config["url"], authorization=bearer_or_basic(secret), secret=secret)
    name = _model_name(client, order)
    matching = [v for v in _candidates(client, name) if _observed(name, alias, v).version == order.version]
    if not matching:
        raise TargetError(f"{name} has no MLflow version for {order.version} (tag it {VERSION_TAG}={order.version})")
    chosen = max(matching, key=lambda v: int(v["version"]) if str(v["version"]).isdigit() else 0)
    digest = _observed(name, alias, chosen).digest
    if order.digest and digest != order.digest:
        found = f"sha256:{digest[:12]}…" if digest else "no digest tag"
        raise TargetError(
            f"MLflow version {chosen['version']} of {name} has {found}, not the approved sha256:{order.digest[:12]}…: "
            "only the approved artifact is deployed"
        )
    current = _version(client, name, alias)
    if current is not None and str(current["version"]) == str(chosen["version"]):
        return Deployed(f"{name}@{alias}={chosen['version']}", f"{name}@{alias} already points at version "
                        f"{chosen['version']} ({order.version})", True)  # fmt: skip
    what = f"POST registered-models/alias for {name!r}@{alias}"
    answer = client.request(f"{API}/registered-models/alias", method="POST", what=what,
                            payload={"name": name, "alias": alias, "version": str(chosen["version"])})  # fmt: skip
    if answer.status >= 400:
        raise _error(client, answer, what)
    return Deployed(f"{name}@{alias}={chosen['version']}", f"set {name}@{alias} to MLflow version {chosen['version']} "
                    f"({order.version})")  # fmt: skip
