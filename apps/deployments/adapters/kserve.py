"""A model server speaking the Open Inference Protocol (KServe v2): MLServer, Triton, KServe's own servers.

What runs is what the server reports READY, read one of two ways:
  - without ``models``: the repository index (``POST /v2/repository/index``, offered by MLServer and Triton), which
    lists every model with its version and state;
  - with ``models`` (for servers without an index, or to watch only some models): each model's metadata
    (``GET /v2/models/{name}``), then readiness of each version it lists (``…/versions/{v}/ready``), or of the model
    itself (``…/ready``) when no listed version is ready.

The version is the server's: MLServer's index reports ``parameters.version`` of model-settings.json; its metadata
``versions`` is free text (often dependency versions such as ``sklearn/1.5``), which counts only where the server
says that version is ready, so with ``models`` the version is often unknown. No digest is read: the protocol has no
field for one, and MLServer 1.7 returns none of a model's extra ``parameters`` in its metadata (only
``content_type``), so the drift rule treats these targets as reporting no digest.
"""

from urllib.parse import quote

from . import Observed, TargetError
from ._config import http_url, only, text_list
from ._http import Client, bearer

FIELDS = {"url", "models"}
MAX_VERSIONS = 20  # versions of one model whose readiness is checked


def clean_config(config) -> dict:
    config = only(config, FIELDS)
    return {"url": http_url(config), "models": text_list(config, "models")}


def endpoint(config: dict) -> str:
    return config.get("url", "")


def _path(name: str, version: str = "") -> str:
    path = f"/v2/models/{quote(name, safe='')}"
    return f"{path}/versions/{quote(version, safe='')}" if version else path


def _observed(name: str, version) -> Observed:
    version = "" if version is None else str(version).strip()[:200]
    return Observed(model=name[:200], version=version, location=_path(name, version)[:500])


def _check_server(client: Client) -> None:
    """The server answers the protocol's server metadata (GET /v2), so later 404s mean "no such model"."""
    answer = client.request("/v2", what="GET /v2")
    if answer.status >= 400:
        raise TargetError(
            f"no Open Inference Protocol server at {client.base_url}: GET /v2 answered HTTP {answer.status}"
        )
    if not isinstance(answer.json("GET /v2"), dict):
        raise TargetError("GET /v2: the answer is not the protocol's server metadata (a JSON object)")


def _from_index(client: Client) -> list[Observed]:
    what = "the repository index (POST /v2/repository/index)"
    answer = client.request("/v2/repository/index", method="POST", payload={}, what=what)
    if answer.status >= 400:
        raise TargetError(
            f"{client.base_url} offers no repository index (HTTP {answer.status}); list the models to check in "
            f"the target's models field"
        )
    entries = answer.json(what)
    if not isinstance(entries, list):
        raise TargetError(f"{what}: expected a list of models")
    observed = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise TargetError(f"{what}: an entry has no model name")
        if str(entry.get("state") or "").upper() == "READY":
            observed.append(_observed(entry["name"].strip(), entry.get("version")))
    return observed


def _ready(client: Client, path: str) -> bool:
    answer = client.request(f"{path}/ready", what=f"GET {path}/ready")
    if answer.status >= 300:
        return False
    try:  # some servers answer {"name": …, "ready": false} with 200
        data = answer.json(f"GET {path}/ready") if answer.body.strip() else {}
    except TargetError:
        data = {}
    return not (isinstance(data, dict) and data.get("ready") is False)


def _from_models(client: Client, names: list[str]) -> list[Observed]:
    observed = []
    for name in names:
        path = _path(name)
        answer = client.request(path, what=f"GET {path}")
        if answer.status == 404:
            continue  # not served (unloaded, or never there)
        if answer.status >= 400:
            detail = client.message_of(answer)
            raise TargetError(f"GET {path} answered HTTP {answer.status}" + (f": {detail}" if detail else ""))
        metadata = answer.json(f"GET {path}")
        if not isinstance(metadata, dict):
            raise TargetError(f"GET {path}: the answer is not the protocol's model metadata (a JSON object)")
        versions = metadata.get("versions") if isinstance(metadata.get("versions"), list) else []
        listed = [str(v).strip() for v in versions[:MAX_VERSIONS] if isinstance(v, str | int) and str(v).strip()]
        ready = [version for version in listed if _ready(client, _path(name, version))]
        if ready:
            observed.extend(_observed(name, version) for version in ready)
        elif _ready(client, path):
            observed.append(_observed(name, ""))
    return observed


def observe(target, secret, known=frozenset()) -> list[Observed]:
    config = target.config
    client = Client(config["url"], authorization=bearer(secret), secret=secret)
    _check_server(client)
    return _from_models(client, config["models"]) if config["models"] else _from_index(client)
