"""Every list in the API holds at most 200 items a page, as the README promises: a larger `page_size` gives 200.

Each list is filled past a page (rows made directly: they are the test's furniture, not what is tested) and asked
for 100,000 items a page. The test also reads the schema, so a list added later without a test here fails it.
"""

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record
from apps.deployments.models import DeploymentTarget, DriftState, Running
from apps.gitsync.models import GitRepository, SyncRun
from apps.inventory.models import Environment, ModelVersion, RegisteredModel

MAX_PAGE = 200
ROWS = MAX_PAGE + 5


@pytest.fixture
def crowded(cast, models):
    """More than a page of each thing the superuser lists; returns {list URL: how many rows it holds at least}."""
    scorecard = models.scorecard
    RegisteredModel.objects.bulk_create(
        RegisteredModel(team=cast.team_a, name=f"Bulk {n:03}", slug=f"bulk-{n:03}", risk_tier="low")
        for n in range(ROWS)
    )
    versions = ModelVersion.objects.bulk_create(ModelVersion(model=scorecard, version=f"9.0.{n}") for n in range(ROWS))
    environments = Environment.objects.bulk_create(
        Environment(name=f"env-{n:03}", slug=f"env-{n:03}", order=1000 + n) for n in range(ROWS)
    )
    DeploymentRequest.objects.bulk_create(
        DeploymentRequest(version=versions[n], environment=environments[n], requester=cast.dana, justification="Bulk.",
                          state=RequestState.CANCELLED)
        for n in range(ROWS)
    )  # fmt: skip
    repositories = GitRepository.objects.bulk_create(
        GitRepository(name=f"repo-{n:03}", url=f"https://git.example/repo-{n:03}.git", team=cast.team_a)
        for n in range(ROWS)
    )
    SyncRun.objects.bulk_create(SyncRun(repository=repositories[0], trigger="manual") for _ in range(ROWS))
    targets = DeploymentTarget.objects.bulk_create(
        DeploymentTarget(name=f"target-{n:03}", environment=environments[n], team=cast.team_a, kind="gitops",
                         config={"url": "https://git.example/deploy.git", "paths": ["*.yaml"]})
        for n in range(ROWS)
    )  # fmt: skip
    now = timezone.now()
    Running.objects.bulk_create(
        Running(target=targets[n], environment=environments[n], model=scorecard, version=versions[n],
                model_key=scorecard.slug, version_label=versions[n].version, started_at=now, last_seen_at=now)
        for n in range(ROWS)
    )  # fmt: skip
    DriftState.objects.bulk_create(
        DriftState(model=scorecard, environment=environments[n], status="in_sync", since=now) for n in range(ROWS)
    )
    with transaction.atomic():
        for n in range(ROWS):
            record(action=Action.MODEL_UPDATED, actor=Actor.system("bulk"), target=Target("x.y", n, f"Bulk {n}"))
    return {
        "/api/v1/models/": ROWS,
        f"/api/v1/models/{scorecard.slug}/versions/": ROWS,
        "/api/v1/environments/": ROWS,
        "/api/v1/deployment-requests/": ROWS,
        "/api/v1/repositories/": ROWS,
        f"/api/v1/repositories/{repositories[0].pk}/runs/": ROWS,
        "/api/v1/audit/events/": ROWS,
        "/api/v1/deployments/targets/": ROWS,
        "/api/v1/deployments/observations/": ROWS,
        "/api/v1/deployments/statuses/": ROWS,
    }


@pytest.fixture
def admin_client(cast):
    client = Client()
    client.force_login(cast.admin)
    return client


LISTS = [
    "/api/v1/models/",
    "/api/v1/models/{model_slug}/versions/",
    "/api/v1/environments/",
    "/api/v1/deployment-requests/",
    "/api/v1/repositories/",
    "/api/v1/repositories/{id}/runs/",
    "/api/v1/audit/events/",
    "/api/v1/deployments/targets/",
    "/api/v1/deployments/observations/",
    "/api/v1/deployments/statuses/",
]


def test_every_paginated_list_in_the_schema_is_tested_here(admin_client):
    openapi = admin_client.get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"}).json()
    schemas = openapi["components"]["schemas"]
    paginated = []
    for path, item in openapi["paths"].items():
        response = item.get("get", {}).get("responses", {}).get("200", {})
        ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if "results" in schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}):
            paginated.append(path)
    assert sorted(paginated) == sorted(LISTS)


@pytest.mark.parametrize("asked", ["100000", "201", "9" * 30])
def test_no_list_gives_more_than_200_items_a_page(admin_client, crowded, asked):
    for url, rows in crowded.items():
        response = admin_client.get(url, {"page_size": asked})
        assert response.status_code == 200, (url, response.content[:300])
        body = response.json()
        assert len(body["results"]) == MAX_PAGE, url
        assert rows > MAX_PAGE and body["next"], url  # the rest is a page away


def test_a_page_size_up_to_200_is_honoured(admin_client, crowded):
    for url in crowded:
        assert len(admin_client.get(url, {"page_size": "200"}).json()["results"]) == MAX_PAGE, url
        assert len(admin_client.get(url, {"page_size": "7"}).json()["results"]) == 7, url


def test_following_next_from_a_capped_page_reaches_every_event(admin_client, crowded):
    url, seen = "/api/v1/audit/events/?page_size=100000", []
    while url:
        body = admin_client.get(url).json()
        assert len(body["results"]) <= MAX_PAGE
        seen += [event["sequence"] for event in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) >= ROWS
