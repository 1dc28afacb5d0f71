"""The Git sync's file and tag parsers: pure functions, no database."""

import pytest

from apps.gitsync.parsers import (
    parse_artifacts_yaml,
    parse_dvc_yaml_artifacts,
    parse_govportal_yaml,
    parse_gto_tag,
    parse_hf_model_card,
    parse_mlmodel,
)

DIGEST = "3b" * 32

GOVPORTAL_YAML = f"""\
models:
  - name: Credit scoring
    team: credit-risk
    risk_tier: high
    intended_use: Rank retail loan applications for manual review.
    versions:
      - version: 1.4.0
        artifact_uri: s3://models/credit-scoring/1.4.0/model.pkl
        artifact_digest: sha256:{DIGEST.upper()}
        metrics: {{auc: 0.91, ks: 0.42}}
        parameters: {{max_depth: 6, n_estimators: 400}}
        model_card: docs/credit-scoring.md
  - name: Fraud detector
    team: fraud
    risk_tier: high
    versions:
      - version: 2.0.0
        artifact_digest: sha256:not-a-digest
"""


def version_yaml(**fields):
    lines = [
        "models:",
        "  - name: Churn",
        "    team: crm",
        "    risk_tier: low",
        "    versions:",
        "      - version: 1.0.0",
    ]
    lines += [f"        {key}: {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def model_yaml(**fields):
    base = {"name": "Churn", "team": "crm", "risk_tier": "low"}
    base.update(fields)
    lines = ["models:"] + [
        f"  {'- ' if index == 0 else '  '}{key}: {value}" for index, (key, value) in enumerate(base.items())
    ]
    return "\n".join(lines) + "\n"


def only_error(result):
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


# govportal.yaml


def test_good_model_comes_through_next_to_a_broken_one():
    result = parse_govportal_yaml(GOVPORTAL_YAML)

    assert [model.name for model in result.models] == ["Credit scoring"]
    model = result.models[0]
    assert (model.team, model.risk_tier, model.line) == ("credit-risk", "high", 2)
    version = model.versions[0]
    assert version.version == "1.4.0"
    assert version.artifact_digest == DIGEST
    assert version.metrics == {"auc": 0.91, "ks": 0.42}
    assert version.parameters == {"max_depth": 6, "n_estimators": 400}
    assert version.model_card == "docs/credit-scoring.md"
    error = only_error(result)
    assert (error.path, error.line, error.field) == ("govportal.yaml", 18, "models[1].versions[0].artifact_digest")
    assert "64 hexadecimal" in error.message
    assert str(error).startswith("govportal.yaml:18: models[1].versions[0].artifact_digest: ")


def test_errors_name_the_path_given():
    result = parse_govportal_yaml(GOVPORTAL_YAML, path="ml/credit/govportal.yaml")
    assert result.errors[0].path == "ml/credit/govportal.yaml"


def test_bytes_input_is_accepted():
    assert len(parse_govportal_yaml(GOVPORTAL_YAML.encode()).models) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": '""'}, "models[0].name", "name is required"),
        ({"name": "x" * 121}, "models[0].name", "over the limit of 120"),
        ({"team": "Credit Risk"}, "models[0].team", "must be a slug"),
        ({"risk_tier": "extreme"}, "models[0].risk_tier", "risk_tier must be one of low, medium, high, critical"),
        ({"intended_use": "x" * 5001}, "models[0].intended_use", "over the limit of 5000"),
        ({"owner": "dana"}, "models[0].owner", "unknown key(s): owner"),
        ({"versions": "1.0.0"}, "models[0].versions", "expected a list of versions"),
    ],
)
def test_model_field_rules(fields, field, message):
    result = parse_govportal_yaml(model_yaml(**fields))
    assert result.models == []
    error = only_error(result)
    assert error.field == field
    assert message in error.message
    assert error.line is not None


@pytest.mark.parametrize("missing", ["name", "team", "risk_tier"])
def test_required_model_fields(missing):
    fields = {"name": "Churn", "team": "crm", "risk_tier": "low"}
    del fields[missing]
    text = "models:\n  - " + "\n    ".join(f"{key}: {value}" for key, value in fields.items()) + "\n"
    result = parse_govportal_yaml(text)
    error = only_error(result)
    assert (error.field, error.message, error.line) == (f"models[0].{missing}", f"{missing} is required", 2)
    assert result.models == []


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    result = parse_govportal_yaml("\n".join(lines) + "\n")
    assert result.models == []
    assert only_error(result).message == "YAML aliases expand to more than 100000 values"


def test_recursive_alias_is_refused():
    assert only_error(parse_artifacts_yaml("churn: &loop\n  labels: [*loop]\n")).message == "recursive YAML alias"


def test_small_anchors_are_fine():
    text = "x-common: &common\n  type: model\nchurn:\n  <<: *common\n  path: models/churn.pkl\n"
    result = parse_artifacts_yaml(text)
    assert [(a.name, a.type) for a in result.artifacts] == [("x-common", "model"), ("churn", "model")]
    assert result.errors == []


@pytest.mark.parametrize("tier", ["low", "medium", "high", "critical"])
def test_every_risk_tier_is_accepted(tier):
    assert parse_govportal_yaml(model_yaml(risk_tier=tier)).models[0].risk_tier == tier


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"artifact_digest": "abc"}, "artifact_digest", "SHA-256 digest"),
        ({"metrics": "{auc: .nan}"}, "metrics", "finite number"),
        ({"metrics": "{auc: high}"}, "metrics", "must be a number"),
        ({"metrics": "[0.9]"}, "metrics", "JSON object"),
        ({"parameters": "[1, 2]"}, "parameters", "Parameters must be a JSON object"),
        ({"model_card": "../secrets.md"}, "model_card", "relative path"),
        ({"model_card": "/etc/passwd"}, "model_card", "relative path"),
        ({"model_card": "C:\\\\cards\\\\a.md"}, "model_card", "relative path"),
        ({"artifact_uri": "s" * 1001}, "artifact_uri", "over the limit of 1000"),
        ({"checksum": "x"}, "checksum", "unknown key(s): checksum"),
    ],
)
def test_version_field_rules(fields, field, message):
    result = parse_govportal_yaml(version_yaml(**fields))
    assert result.models == []
    error = only_error(result)
    assert error.field == f"models[0].versions[0].{field}"
    assert error.line == 7
    assert message in error.message


def test_bad_version_string_reuses_the_inventory_rule():
    result = parse_govportal_yaml(version_yaml().replace("1.0.0", "-1.0 beta"))
    error = only_error(result)
    assert (error.field, error.line) == ("models[0].versions[0].version", 6)
    assert "starts with a letter or digit" in error.message


def test_unquoted_version_keeps_what_the_author_typed():
    model = parse_govportal_yaml(version_yaml().replace("1.0.0", "1.10")).models[0]
    assert model.versions[0].version == "1.10"


def test_digest_without_prefix_is_lowercased():
    model = parse_govportal_yaml(version_yaml(artifact_digest=DIGEST.upper())).models[0]
    assert model.versions[0].artifact_digest == DIGEST


def test_duplicate_model_names_keep_the_first():
    text = model_yaml() + "  - name: churn\n    team: crm\n    risk_tier: low\n"
    result = parse_govportal_yaml(text)
    assert [m.name for m in result.models] == ["Churn"]
    assert only_error(result).field == "models[1].name"


def test_duplicate_version_is_an_error():
    text = version_yaml() + "      - version: 1.0.0\n"
    error = only_error(parse_govportal_yaml(text))
    assert (error.field, error.line) == ("models[0].versions[1].version", 7)


def test_duplicate_yaml_key_is_reported():
    text = model_yaml() + "    risk_tier: high\n"
    assert any(e.message == "duplicate key" and e.line == 5 for e in parse_govportal_yaml(text).errors)


def test_unknown_top_level_key_and_missing_models():
    result = parse_govportal_yaml("model:\n  - name: Churn\n")
    assert {e.field for e in result.errors} == {"model", "models"}


def test_empty_file_is_an_error_not_a_crash():
    result = parse_govportal_yaml("")
    assert result.models == []
    assert "mapping" in only_error(result).message


def test_non_utf8_is_one_error_and_no_models():
    result = parse_govportal_yaml("models:\n  - name: Caf\xe9\n".encode("latin-1"))
    assert result.models == []
    error = only_error(result)
    assert "not UTF-8" in error.message
    assert error.line == 2


def test_oversized_file_is_refused_before_parsing():
    result = parse_govportal_yaml(GOVPORTAL_YAML, max_bytes=100)
    error = only_error(result)
    assert error.message == f"file is {len(GOVPORTAL_YAML.encode())} bytes, over the limit of 100"
    assert result.models == []


def test_malformed_yaml_points_at_the_line():
    text = "models:\n  - name: Churn\n    team: [crm\n    risk_tier: low\n  - : :\n"
    result = parse_govportal_yaml(text)
    error = only_error(result)
    assert error.message.startswith("malformed YAML")
    assert error.line == 4
    assert result.models == []


def test_yaml_tags_that_run_code_are_rejected():
    result = parse_govportal_yaml("models: !!python/object/apply:os.system ['true']\n")
    assert only_error(result).message.startswith("malformed YAML")


# GTO tags


@pytest.mark.parametrize(
    ("tag", "action", "artifact", "version", "stage", "counter"),
    [
        ("churn@v1.2.0", "register", "churn", "v1.2.0", None, None),
        ("churn@v1.2.0#3", "register", "churn", "v1.2.0", None, 3),
        ("models/churn@v2.0.0-rc.1+build.5", "register", "models/churn", "v2.0.0-rc.1+build.5", None, None),
        ("churn@v1.2.0!", "deregister", "churn", "v1.2.0", None, None),
        ("churn@v1.2.0!#4", "deregister", "churn", "v1.2.0", None, 4),
        ("churn#prod", "assign", "churn", None, "prod", None),
        ("churn#prod#5", "assign", "churn", None, "prod", 5),
        ("churn#prod!", "unassign", "churn", None, "prod", None),
        ("churn#prod!#6", "unassign", "churn", None, "prod", 6),
        ("churn@deprecated", "deprecate", "churn", None, None, None),
        ("churn@deprecated#7", "deprecate", "churn", None, None, 7),
    ],
)
def test_gto_tag_variants(tag, action, artifact, version, stage, counter):
    event = parse_gto_tag(tag, message="promoted after review")
    assert (event.action, event.artifact, event.version, event.stage, event.counter) == (
        action,
        artifact,
        version,
        stage,
        counter,
    )
    assert (event.tag, event.message) == (tag, "promoted after review")


@pytest.mark.parametrize(
    "tag",
    [
        "v1.2.0",
        "release-2024-01",
        "churn@1.2.0",  # GTO versions carry a leading "v"
        "churn@v1.2",
        "churn@v01.2.0",
        "Churn@v1.2.0",  # names are lowercase
        "1churn@v1.2.0",
        "churn-@v1.2.0",
        "c@v1.2.0",  # at least two characters
        "churn#Prod",
        "churn#prod#",
        "churn#prod#x",
        "churn@latest",
        "churn@deprecated!",
        "churn@created",
        "",
    ],
)
def test_unrelated_or_invalid_tags_are_ignored(tag):
    assert parse_gto_tag(tag) is None


# artifacts.yaml and dvc.yaml

ARTIFACTS_YAML = """\
churn:
  type: model
  path: models/churn.pkl
  description: Gradient-boosted churn model
  labels: [tabular, crm]
  virtual: false
segmenter:
  type: model
  path: models/segmenter
  owner: dana
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [data/train.csv]
    outs: [models/churn.pkl]
artifacts:
  churn:
    type: model
    path: models/churn.pkl
    desc: Gradient-boosted churn model
    labels: [tabular]
    meta: {framework: sklearn}
  Bad_Name:
    path: models/x.pkl
"""


def test_artifacts_yaml_declarations_and_errors():
    result = parse_artifacts_yaml(ARTIFACTS_YAML)
    assert len(result.artifacts) == 1
    churn = result.artifacts[0]
    assert (churn.name, churn.type, churn.path, churn.description, churn.labels, churn.line) == (
        "churn",
        "model",
        "models/churn.pkl",
        "Gradient-boosted churn model",
        ["tabular", "crm"],
        1,
    )
    error = only_error(result)
    assert (error.path, error.line, error.field) == ("artifacts.yaml", 10, "segmenter.owner")


def test_dvc_yaml_artifacts_section():
    result = parse_dvc_yaml_artifacts(DVC_YAML)
    assert [(a.name, a.description, a.labels) for a in result.artifacts] == [
        ("churn", "Gradient-boosted churn model", ["tabular"])
    ]
    error = only_error(result)
    assert (error.path, error.line, error.field) == ("dvc.yaml", 13, "artifacts.Bad_Name")


def test_dvc_yaml_without_artifacts_is_empty():
    result = parse_dvc_yaml_artifacts("stages:\n  train:\n    cmd: python train.py\n")
    assert (result.artifacts, result.errors) == ([], [])


def test_artifacts_labels_must_be_strings():
    error = only_error(parse_artifacts_yaml("churn:\n  labels: tabular\n"))
    assert error.field == "churn.labels"


def test_artifacts_yaml_malformed_and_non_utf8():
    assert only_error(parse_artifacts_yaml("churn:\n  type: [model\n")).message.startswith("malformed YAML")
    assert "not UTF-8" in only_error(parse_dvc_yaml_artifacts(b"artifacts:\n  \xff: {}\n")).message


# MLflow MLmodel

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.6
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.3.2
mlflow_version: 2.9.2
model_size_bytes: 48213
model_uuid: 7c1f2a9e4b3d4c6f8e0a1b2c3d4e5f60
run_id: 0e9f5d3a8c7b4e21a6f0b9c8d7e6f5a4
signature:
  inputs: '[{"type": "double", "name": "tenure_months", "required": true}, {"type": "string",
    "name": "plan", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
utc_time_created: '2024-03-18 09:41:27.512034'
"""


def test_mlmodel_sklearn_with_signature():
    result = parse_mlmodel(MLMODEL)
    assert result.errors == []
    meta = result.metadata
    assert meta["flavors"] == ["python_function", "sklearn"]
    assert meta["run_id"] == "0e9f5d3a8c7b4e21a6f0b9c8d7e6f5a4"
    assert meta["model_uuid"] == "7c1f2a9e4b3d4c6f8e0a1b2c3d4e5f60"
    assert meta["utc_time_created"] == "2024-03-18 09:41:27.512034"
    assert meta["mlflow_version"] == "2.9.2"
    assert [column["name"] for column in meta["signature"]["inputs"]] == ["tenure_months", "plan"]
    assert meta["signature"]["outputs"] == [{"type": "long", "required": True}]
    assert meta["signature"]["params"] is None


def test_mlmodel_unparseable_signature_stays_text_and_no_flavors_is_an_error():
    result = parse_mlmodel("signature:\n  inputs: 'not json'\n", path="model/MLmodel")
    assert result.metadata["signature"]["inputs"] == "not json"
    error = only_error(result)
    assert (error.path, error.field) == ("model/MLmodel", "flavors")


def test_mlmodel_oversized():
    assert "over the limit of 10" in only_error(parse_mlmodel(MLMODEL, max_bytes=10)).message


# Hugging Face model card

HF_README = """\
---
license: apache-2.0
language: en
base_model: distilbert-base-uncased
datasets:
- imdb
tags:
- text-classification
- generated_from_trainer
model-index:
- name: distilbert-imdb
  results:
  - task:
      type: text-classification
      name: Text Classification
    dataset:
      name: imdb
      type: imdb
      split: test
    metrics:
    - type: accuracy
      value: 0.9312
      name: Accuracy
    - type: f1
      value: 0.9308
  - dataset:
      name: sst2
      type: sst2
    metrics:
    - type: accuracy
      value: 0.88
    - type: notes
      value: n/a
---

# distilbert-imdb

Fine-tuned on IMDB reviews.
"""


def test_hf_card_front_matter_and_flattened_metrics():
    result = parse_hf_model_card(HF_README)
    assert result.errors == []
    assert result.metadata == {
        "license": "apache-2.0",
        "language": ["en"],
        "base_model": "distilbert-base-uncased",
        "datasets": ["imdb"],
        "tags": ["text-classification", "generated_from_trainer"],
        "metrics": {"accuracy": 0.9312, "f1": 0.9308},
    }


def test_hf_readme_without_front_matter_is_empty_not_an_error():
    result = parse_hf_model_card("# My model\n\n---\n\nSome text.\n")
    assert (result.metadata, result.errors) == ({}, [])


def test_hf_front_matter_errors_use_readme_lines():
    result = parse_hf_model_card("---\nlicense: mit\ntags: [a\n---\n# Model\n", path="models/bert/README.md")
    error = only_error(result)
    assert error.path == "models/bert/README.md"
    assert error.line == 4
    assert error.message.startswith("malformed YAML")


def test_hf_card_non_utf8():
    assert "not UTF-8" in only_error(parse_hf_model_card(b"---\nlicense: \xff\n---\n")).message


# --- bounds that keep one file from breaking a sync ---------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_govportal_yaml, parse_artifacts_yaml, parse_mlmodel])
@pytest.mark.parametrize("depth", [65, 980])
def test_nesting_deeper_than_64_levels_is_refused_before_anything_is_built(parse, depth):
    text = "a:\n" + "".join(f"{'  ' * level}- x{level}:\n" for level in range(1, depth)) + "  " * depth + "- end\n"
    flow = "models: " + "[" * depth + "]" * depth + "\n"
    for source in (text, flow):
        error = only_error(parse(source))
        assert error.message == "nested more than 64 levels deep; not read"


def test_nesting_up_to_64_levels_is_read():
    flow = "flavors: {sklearn: {}}\nsignature: {inputs: " + "[" * 60 + "]" * 60 + "}\n"
    assert parse_mlmodel(flow).errors == []


@pytest.mark.parametrize(
    "text, message",
    [
        ('models:\n  - name: "Churn\\0"\n', "contains a NUL character (\\0); not read"),
        ('churn:\n  description: "\\ud800"\n', "contains an unpaired surrogate (\\ud800-\\udfff); not read"),
    ],
)
def test_scalars_no_database_column_holds_are_refused(text, message):
    for parse in (parse_govportal_yaml, parse_artifacts_yaml):
        result = parse(text)
        if result.errors and "surrogate" in message and "malformed YAML" in result.errors[0].message:
            continue  # libyaml itself refuses the escape: refused all the same
        assert only_error(result).message == message


def test_timestamps_binary_and_sets_come_back_as_json_values():
    card = "---\nlicense: 2024-01-02\ntags: !!set {a, b}\ndatasets: [!!binary aGVsbG8=]\n---\n"
    assert parse_hf_model_card(card).metadata == {
        "license": "2024-01-02",
        "tags": {"a": None, "b": None},
        "datasets": ["aGVsbG8="],
        "metrics": {},
    }
