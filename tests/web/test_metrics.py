"""/metrics: what an operator watches on exam day, for Prometheus only (a bearer token)."""

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_user
from tests.web.testpress.test_webhook import completed_payload, post, signed_body

TOKEN = "metrics-token-for-the-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def watched(make_app):
    return make_app(METRICS_TOKEN=TOKEN)


def samples(client) -> dict[tuple, float]:
    """Every sample /metrics answers, keyed by (name, its labels as sorted pairs)."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_metrics_are_a_404_unless_a_token_is_set(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_need_the_bearer_token(watched, header, caplog):
    caplog.set_level(logging.INFO)
    response = watched.test_client().get("/metrics", headers={"Authorization": header} if header else {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "portal_requests" not in response.get_data(as_text=True)
    assert TOKEN not in caplog.text


def test_requests_webhook_outcomes_and_login_refusals_are_counted(watched):
    client = watched.test_client()
    with watched.app_context():
        make_user("asha@example.com", "Asha")
    before = samples(client)
    login = ("portal_requests_total", (("endpoint", "auth.login"), ("method", "GET"), ("status", "200")))
    refused = ("portal_login_refusals_total", (("reason", "wrong email or password"),))
    unmatched = ("portal_webhook_deliveries_total", (("outcome", "unmatched"),))

    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert client.post("/login", data={"email": "asha@example.com", "password": "not it"}).status_code == 401
    assert post(client, signed_body(completed_payload())).get_json() == {"status": "unmatched"}  # no such exam

    after = samples(client)
    assert after[login] - before.get(login, 0) == 3
    assert after[refused] - before.get(refused, 0) == 1
    assert after[unmatched] - before.get(unmatched, 0) == 1
    assert ("portal_request_seconds_count", (("endpoint", "auth.login"),)) in after
    assert ("portal_recording_lock_wait_seconds_count", ()) in after
