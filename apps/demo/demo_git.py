"""The demo's model repository: a real local Git repository the demo registers and syncs.

Marketing Analytics keeps two models in Git: "Next Best Offer" declared in govportal.yaml (with a
Hugging Face model card and an MLflow MLmodel), and "lead-scorer" registered the GTO way, by annotated tags
`lead-scorer@vX.Y.Z` with stage tags. Dates are fixed, so every build of the repository has the same commits.
"""

import os
import subprocess
from pathlib import Path

AUTHOR = ("Dana Okafor", "dana@govportal.example")
START = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
REPOSITORY_NAME = "marketing-models"

GOVPORTAL_YAML = """\
# What this repository holds, for GovPortal (schema: README, "govportal.yaml").
models:
  - name: Next Best Offer
    team: marketing-analytics
    risk_tier: medium
    intended_use: Rank the three offers shown to a signed-in customer on the app's home screen.
    versions:
      - version: 1.0.0
        artifact_uri: s3://ml-artifacts/next-best-offer/1.0.0/model.pkl
        artifact_digest: sha256:6f1ed002ab5595859014ebf0951522d9b1d1e1d5c2d5a1c1e2e3f4a5b6c7d8e9
        metrics: {{ndcg_at_3: {ndcg1}, coverage: 0.97}}
        parameters: {{learning_rate: 0.05, n_estimators: 400}}
        model_card: models/next-best-offer/README.md
{extra}"""
VERSION_2 = """\
      - version: 1.1.0
        artifact_uri: s3://ml-artifacts/next-best-offer/1.1.0/model.pkl
        artifact_digest: sha256:0b3c6d9e1f2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678
        metrics: {ndcg_at_3: 0.452, coverage: 0.98}
        parameters: {learning_rate: 0.05, n_estimators: 600}
        model_card: models/next-best-offer/README.md
"""
CARD = """\
---
license: proprietary
datasets: [offers-interactions-2025]
base_model: lightgbm-ranker
model-index:
  - name: next-best-offer
    results:
      - metrics:
          - type: ndcg_at_3
            value: 0.431
---
# Next Best Offer

A LightGBM ranker over offer, customer-segment and recent-interaction features. Offers with a credit
component are excluded for customers flagged as vulnerable; the model never sees protected attributes.
"""
MLMODEL = """\
artifact_path: model
flavors:
  python_function: {{loader_module: mlflow.lightgbm, python_version: 3.11.9}}
  lightgbm: {{lgb_version: 4.5.0}}
run_id: {run_id}
model_uuid: {uuid}
utc_time_created: '2026-01-{day:02d} 09:30:00.000000'
mlflow_version: 2.19.0
signature:
  inputs: '[{{"name": "segment", "type": "string"}}, {{"name": "recency_days", "type": "long"}}]'
  outputs: '[{{"name": "offer_rank", "type": "long"}}]'
"""
ARTIFACTS_YAML = """\
lead-scorer:
  type: model
  path: models/lead-scorer
  description: Scores inbound B2B leads for the sales team's call list.
"""


def _git(path: Path, *args: str, when: int) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    result = subprocess.run(["git", *args], cwd=path, env=env, capture_output=True, check=True)  # noqa: S603, S607
    return result.stdout.decode().strip()


def _commit(path: Path, day: int, message: str, files: dict[str, str]) -> None:
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    _git(path, "add", "-A", when=START + day * DAY)
    _git(path, "commit", "-q", "-m", message, when=START + day * DAY)


def _tag(path: Path, day: int, name: str, message: str) -> None:
    _git(path, "tag", "-a", name, "-m", message, when=START + day * DAY + 3600)


def build(path: Path) -> bool:
    """Create the demo repository at `path` unless it exists; True when it was made now."""
    if (path / ".git").is_dir():
        return False
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main", when=START)
    mlmodel = MLMODEL.format(run_id="4c1f0b8e9d2a47f3", uuid="9a7e6c1d", day=5)
    _commit(path, 5, "Next Best Offer 1.0.0: LightGBM ranker", {
        "govportal.yaml": GOVPORTAL_YAML.format(ndcg1=0.431, extra=""),
        "models/next-best-offer/README.md": CARD, "models/next-best-offer/MLmodel": mlmodel,
    })  # fmt: skip
    _commit(path, 9, "Lead scorer: declare the artifact for GTO", {
        "artifacts.yaml": ARTIFACTS_YAML,
        "models/lead-scorer/MLmodel": MLMODEL.format(run_id="77aa01c3e5", uuid="1b2c3d4e", day=9),
    })  # fmt: skip
    _tag(path, 9, "lead-scorer@v0.9.0", "First lead scorer for the pilot region")
    _tag(path, 10, "lead-scorer#staging#1", "Pilot in staging")
    _commit(path, 20, "Lead scorer: retrain on Q4 leads", {"models/lead-scorer/metrics.json": '{"auc": 0.78}\n'})
    _tag(path, 20, "lead-scorer@v1.0.0", "Retrained on Q4 leads")
    _tag(path, 21, "lead-scorer#staging#2", "1.0.0 to staging")
    _tag(path, 24, "lead-scorer#prod#3", "1.0.0 to production after sign-off")
    _commit(path, 30, "Next Best Offer 1.1.0: more trees, better NDCG", {
        "govportal.yaml": GOVPORTAL_YAML.format(ndcg1=0.431, extra=VERSION_2),
    })  # fmt: skip
    _tag(path, 30, "v1.1.0", "Next Best Offer 1.1.0")
    return True
