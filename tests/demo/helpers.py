"""Shared by the load_demo tests: the demo's test settings, running the command, counting rows."""

import tempfile
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from guardian.models import UserObjectPermission

from apps.accounts.models import Membership, ServiceToken, Team, User
from apps.approvals.models import ApprovalPolicy, Decision, DeploymentRequest, PolicyStep, RequestStep
from apps.audit.models import AuditEvent
from apps.gitsync.models import GitRepository, SyncRun
from apps.inventory.models import Environment, ModelVersion, RegisteredModel, RegisteredModelUserObjectPermission, Tag

DEMO_PASSWORD = "demo-pass-for-tests"
DEMO_SETTINGS = {
    "DEBUG": True,  # pytest-django turns DEBUG off; the command refuses to run without it
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],  # a dozen users and signatures: fast
    "GOVPORTAL_DEMO_PASSWORD": DEMO_PASSWORD,
    # The demo's Git repository and its mirror live beside this directory, never in var/.
    "GITSYNC_MIRROR_DIR": Path(tempfile.mkdtemp(prefix="govportal-demo-tests-")) / "git-mirrors",
    "GITSYNC_ALLOW_LOCAL": True,  # as `make run` sets it: the demo repository is a local one
}


def load_demo(**options) -> str:
    out = StringIO()
    call_command("load_demo", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict:
    tables = (
        User, Team, Membership, RegisteredModel, ModelVersion, Tag, AuditEvent,
        RegisteredModelUserObjectPermission, UserObjectPermission,
        Environment, ApprovalPolicy, PolicyStep, DeploymentRequest, RequestStep, Decision, GitRepository, SyncRun,
        ServiceToken,
    )  # fmt: skip
    return {table.__name__: table.objects.count() for table in tables}
