"""The same delivery arriving twice at once on PostgreSQL: the unique delivery row lets exactly one through."""

import json

import pytest

from apps.hooks import services
from apps.hooks.models import Outcome, WebhookDelivery
from tests.concurrency import race
from tests.conftest import needs_postgres

from .conftest import push_payload, sign

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_a_delivery_sent_many_times_at_once_queues_one_sync(repos, enqueued):
    needs_postgres()
    body = json.dumps(push_payload()).encode()

    def deliver():
        return services.github_delivery_receive(
            event="push", delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958", body=body,
            signature=sign(body, repos.churn_secret),
        )  # fmt: skip

    results = race([deliver] * 8)

    outcomes = sorted(str(getattr(result, "outcome", result)) for result in results)
    assert outcomes == [services.DUPLICATE] * 7 + [Outcome.QUEUED], results
    assert WebhookDelivery.objects.count() == 1
    assert enqueued == [(repos.churn.pk, "webhook", "github-webhook")]
