"""The demo's GitOps repository: KServe InferenceService manifests per environment, in a real local Git repository.

What the manifests declare is what the demo's deployment targets observe. They match the approved requests, except
for one deliberate exception: AML Transaction Monitoring 3.0.0 was rolled into production by hand while its
production request still waits for the security review, so /deployments/ shows it as unapproved.
Dates are fixed, so every build of the repository has the same commits.
"""

import os
import subprocess
from pathlib import Path

REPOSITORY_NAME = "deployments"
AUTHOR = ("Priya Platform", "platform@govportal.example")
START = 1_767_225_600 + 30 * 86_400  # 2026-01-31T00:00:00Z
ENVIRONMENTS = ("development", "staging", "production")

MANIFEST = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: {environment}
  annotations:
    govportal.io/model: {slug}
    govportal.io/version: "{version}"
    govportal.io/digest: "sha256:{digest}"
spec:
  predictor:
    model:
      modelFormat: {{name: {framework}}}
      storageUri: {uri}
"""


def manifest(environment: str, slug: str, version: str, digest: str, uri: str, framework: str) -> str:
    return MANIFEST.format(
        name=slug, environment=environment, slug=slug, version=version, digest=digest,
        uri=uri or f"s3://ml-artifacts/{slug}/{version}/", framework=framework or "sklearn",
    )  # fmt: skip


def _git(path: Path, *args: str, when: int) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
    }  # fmt: skip
    subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)  # noqa: S603, S607


def build(path: Path, commits: list[tuple[str, dict[str, str]]]) -> Path:
    """(Re)create the repository at `path`: each (message, {file: content}) is one commit, a day apart.

    An existing repository is left as it is (a second `make run` changes nothing).
    """
    if (path / ".git").is_dir():
        return path
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main", when=START)
    # The portal's rollouts push to it as to a Git server; the checked-out files follow, for a person to read.
    _git(path, "config", "receive.denyCurrentBranch", "updateInstead", when=START)
    for day, (message, files) in enumerate(commits):
        for name, content in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        _git(path, "add", "-A", when=START)
        _git(path, "commit", "-q", "-m", message, when=START + day * 86_400)
    return path
