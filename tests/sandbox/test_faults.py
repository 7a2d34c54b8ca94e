"""The fault switches: JSON endpoint and the admin form."""

import pytest

from testpress_sandbox import faults

NO_FAULTS = {
    "api_delay": 0.0,
    "api_fail_next": 0,
    "api_throttle_next": 0,
    "api_retry_after": 1,
    "webhook_duplicate": False,
    "webhook_delay": 0.0,
    "webhook_reorder": False,
    "pending_results": False,
}


def without_generation(state: dict) -> dict:
    return {name: value for name, value in state.items() if name != "token_generation"}


def test_read_set_and_reset_as_json(client):
    assert without_generation(client.get("/sandbox/faults").get_json()) == NO_FAULTS
    chosen = {"api_fail_next": 2, "webhook_duplicate": True, "webhook_delay": 1.5}
    answer = client.post("/sandbox/faults", json=chosen)
    assert answer.status_code == 200 and without_generation(answer.get_json()) == {**NO_FAULTS, **chosen}
    assert without_generation(client.get("/sandbox/faults").get_json()) == {**NO_FAULTS, **chosen}
    assert without_generation(client.post("/sandbox/faults", json={}).get_json()) == NO_FAULTS


def test_a_post_replaces_every_fault(client):
    client.post("/sandbox/faults", json={"api_fail_next": 2})
    state = client.post("/sandbox/faults", json={"webhook_reorder": True}).get_json()
    assert state["api_fail_next"] == 0 and state["webhook_reorder"] is True


def test_expire_tokens_moves_the_generation_on(client):
    before = client.get("/sandbox/faults").get_json()["token_generation"]
    after = client.post("/sandbox/faults", json={"expire_tokens": True}).get_json()["token_generation"]
    assert after == before + 1


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"api_explode": True}, "unknown fault(s): api_explode"),
        ({"api_fail_next": -1}, "api_fail_next must be a number"),
        ({"api_fail_next": 1.5}, "api_fail_next must be a whole number"),
        ({"api_delay": "slow"}, "api_delay must be a number"),
        ({"webhook_reorder": 1}, "webhook_reorder must be true or false"),
        ({"expire_tokens": "yes"}, "expire_tokens must be true or false"),
    ],
)
def test_bad_settings_are_refused_by_name(client, settings, message):
    answer = client.post("/sandbox/faults", json=settings)
    assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert without_generation(faults.as_json()) == NO_FAULTS


def test_a_json_array_is_refused(client):
    assert client.post("/sandbox/faults", json=[1]).status_code == 400


def test_admin_form(client):
    page = client.get("/sandbox/faults", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Faults on demand" in page.get_data(as_text=True)
    answer = client.post("/sandbox/faults",
                         data={"api_throttle_next": "3", "api_retry_after": "9", "webhook_duplicate": "on"})
    assert answer.status_code == 302
    state = faults.as_json()
    assert (state["api_throttle_next"], state["api_retry_after"], state["webhook_duplicate"]) == (3, 9, True)
    client.post("/sandbox/faults", data={})
    assert without_generation(faults.as_json()) == NO_FAULTS


def test_admin_form_with_a_bad_number_says_so(client):
    answer = client.post(
        "/sandbox/faults", data={"api_delay": "soon"}, headers={"Accept": "text/html"}, follow_redirects=True
    )
    assert "api_delay must be a number" in answer.get_data(as_text=True)
