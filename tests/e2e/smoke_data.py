"""The production smoke test's data, made through the services in a process configured like production.

Run by tests/e2e/test_prod_smoke.py before the portal's processes start:
`python -m tests.e2e.smoke_data MODEL_REPOSITORY GITOPS_REPOSITORY`, with the portal's environment. Prints one JSON
object: what the test needs to drive the portal (the webhook secret and the API token are shown this once).
"""

import json
import sys

PASSWORD = "smoke-Signing-Passw0rd"  # everyone's; the approvers sign with it
GITHUB_NAME = "acme/retail-scorecard"


def main(model_repository: str, gitops_repository: str) -> dict:
    from django.db import transaction

    from apps.accounts import services as accounts
    from apps.accounts import tokens
    from apps.accounts.models import Role
    from apps.approvals import services as approvals
    from apps.approvals.models import ApproverKind
    from apps.audit.actors import Actor
    from apps.deployments import services as deployments
    from apps.gitsync import services as gitsync
    from apps.gitsync.models import GitRepository
    from apps.inventory import services as inventory

    system = Actor.system("prod-smoke")
    with transaction.atomic():
        people = {}
        for username in ("admin", "alice", "rita", "sam"):
            people[username] = accounts.user_create(
                actor=system, username=username, password=PASSWORD, email=f"{username}@example.com",
                first_name=username.title(), last_name="Smoke", is_superuser=username == "admin",
            )  # fmt: skip
        admin = Actor.of(people["admin"])
        team = accounts.team_create(actor=admin, name="Credit Risk", slug="credit-risk")
        for username, role in (("alice", Role.ADMIN), ("rita", Role.APPROVER), ("sam", Role.APPROVER)):
            accounts.membership_grant(actor=admin, team=team, user=people[username], role=role)
        production = inventory.environment_save(actor=admin, name="Production", slug="production", order=30,
                                                protected=True)  # fmt: skip
        approvals.policy_save(
            actor=admin, name="Production", environment=production, risk_tiers=[], require_digest=True, steps=[
                {"name": "Model risk review", "approver_kind": ApproverKind.ROLE, "role": Role.APPROVER,
                 "quorum": 2, "requires_signature": True, "due_hours": 72},
            ],
        )  # fmt: skip
        repository, webhook_secret = gitsync.repository_create(
            actor=admin, team=team, name="retail-scorecard", url=model_repository, branch="main"
        )
        # The webhook names repositories as GitHub does (owner/name); this local stand-in answers to one.
        GitRepository.objects.filter(pk=repository.pk).update(github_full_name=GITHUB_NAME)
        target = deployments.target_save(
            actor=admin, name="prod-gitops", environment=production, team=team, kind="gitops", interval_seconds=300,
            config={"url": gitops_repository, "branch": "main", "paths": ["prod/**/*.yaml"]},
        )  # fmt: skip
        account = tokens.service_account_create(actor=Actor.of(people["alice"]), team=team, name="scorecard-ci")
        _token, token = tokens.token_create(actor=Actor.of(people["alice"]), account=account, name="smoke",
                                            scopes=["read", "request-deploy"], expires_in_days=1)  # fmt: skip
    return {
        "github_name": GITHUB_NAME,
        "webhook_secret": webhook_secret,
        "token": token,
        "repository": repository.pk,
        "target": target.pk,
        "password": PASSWORD,
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
    django.setup()
    print(json.dumps(main(*sys.argv[1:3])))
