def test_healthz_answers_200_with_database_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_every_response_carries_a_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="ci-run-12345678")
    assert response["X-Request-ID"] == "ci-run-12345678"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert forged["X-Request-ID"] != "bad id with spaces"
    assert len(forged["X-Request-ID"]) == 32
