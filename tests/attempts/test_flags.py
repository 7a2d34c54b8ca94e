"""Flags as work items: staff accept the signed score or dismiss the flag with a note; the
decision leaves the flagged counts, shows in the attempt's history and the audit log, and
only a new disagreement raises the flag again."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from portal.attempts.reconciliation import record_report
from portal.core.extensions import db
from portal.models import Attempt, AuditEntry
from tests.attempts.test_reconcile import RE_EVALUATED, SCORES, TAMPERED, report
from tests.factories import make_attempt, make_exam, make_staff, make_user


def flagged_count() -> int:
    """The flagged count as the dashboard and the attempts filter count it."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Attempt).where(Attempt.flagged))


def record(attempt: Attempt, *reports) -> Attempt:
    for one in reports:
        record_report(attempt, one)
    db.session.commit()
    return attempt


def reload(attempt: Attempt) -> Attempt:
    db.session.expire_all()
    return db.session.get(Attempt, attempt.id)


@pytest.fixture
def staff(client, auth):
    member = make_staff("priya@example.com", name="Priya Staff")
    auth.login("priya@example.com")
    return member


@pytest.fixture
def tampered(app):
    """An attempt whose browser return claimed 200 while Testpress's webhook signed 163."""
    attempt = make_attempt(make_user("asha@example.com"), make_exam(testpress_id=12))
    return record(attempt, report("return", scores=TAMPERED, testpress_attempt_id="9001"),
                  report("webhook", testpress_attempt_id="9001"))


def test_accepting_the_signed_score_resolves_the_flag(client, staff, tampered):
    assert tampered.flagged and flagged_count() == 1
    page = client.get(f"/admin/attempts/{tampered.id}").get_data(as_text=True)
    assert "Accept the signed score" in page and "Dismiss with a note" in page
    assert "The score Testpress signed is this attempt&#39;s result" in page

    response = client.post(f"/admin/attempts/{tampered.id}/flag/accepted", data={"accept-note": ""})

    assert response.status_code == 302 and response.headers["Location"] == f"/admin/attempts/{tampered.id}"
    attempt = reload(tampered)
    assert (attempt.flagged, attempt.flag_resolution, attempt.flag_resolved_by_id) == (False, "accepted", staff.id)
    assert attempt.flag_resolved_at is not None and attempt.flag_note is None
    assert (attempt.score, attempt.score_source) == (163.0, "webhook")  # the signed score stands
    assert flagged_count() == 0
    assert client.get("/admin/attempts/?flagged=1").get_data(as_text=True).count(f"/admin/attempts/{attempt.id}") == 0
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.target_type == "attempt"))
    assert (entry.action, entry.actor_id, entry.target_id) == ("flag.accepted", staff.id, attempt.id)
    assert json.loads(entry.before)["flagged"] is True and json.loads(entry.after)["flagged"] is False
    page = client.get(f"/admin/attempts/{tampered.id}").get_data(as_text=True)
    assert "Flag resolved (signed score accepted) by Priya Staff" in page
    assert "Signed score accepted: attempt" in page  # the history's staff decisions
    assert "Accept the signed score</button>" not in page


def test_dismissing_needs_a_note_and_keeps_it(client, staff, tampered):
    response = client.post(f"/admin/attempts/{tampered.id}/flag/dismissed", data={"dismiss-note": "   "})
    assert response.status_code == 422
    assert "a note is required" in response.get_data(as_text=True)
    assert reload(tampered).flagged and flagged_count() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0

    too_long = client.post(f"/admin/attempts/{tampered.id}/flag/dismissed", data={"dismiss-note": "x" * 501})
    assert too_long.status_code == 422 and reload(tampered).flagged

    note = "Spoke to Asha: she reloaded the result page; the signed score is right."
    response = client.post(f"/admin/attempts/{tampered.id}/flag/dismissed", data={"dismiss-note": note})
    assert response.status_code == 302
    attempt = reload(tampered)
    assert (attempt.flagged, attempt.flag_resolution, attempt.flag_note) == (False, "dismissed", note)
    assert flagged_count() == 0
    entry = db.session.scalar(sa.select(AuditEntry))
    assert entry.action == "flag.dismissed" and note in entry.summary
    page = client.get(f"/admin/attempts/{attempt.id}").get_data(as_text=True)
    assert "Flag resolved (dismissed) by Priya Staff" in page and note in page


def test_a_resolution_without_a_csrf_token_is_refused(make_app, tampered):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_staff("priya@example.com")
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    from tests.factories import PASSWORD
    client.post("/login", data={"email": "priya@example.com", "password": PASSWORD, "csrf_token": token})

    response = client.post(f"/admin/attempts/{tampered.id}/flag/dismissed", data={"dismiss-note": "fine"})

    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Attempt, tampered.id).flagged


def test_accept_is_offered_only_with_a_signed_score(client, staff, app):
    attempt = make_attempt(make_user(), make_exam())
    # Two returns that disagree: a flag with only the return's (unsigned) score held.
    record(attempt, report("return", scores=SCORES), report("return", scores=TAMPERED))
    assert attempt.flagged and attempt.score_source == "return"

    page = client.get(f"/admin/attempts/{attempt.id}").get_data(as_text=True)
    assert "Accept the signed score</button>" not in page and "no signed score to accept" in page
    response = client.post(f"/admin/attempts/{attempt.id}/flag/accepted", data={})
    assert response.status_code == 422 and reload(attempt).flagged
    assert client.post(f"/admin/attempts/{attempt.id}/flag/dismissed",
                       data={"dismiss-note": "Asked the student"}).status_code == 302


def test_resolving_an_unflagged_attempt_changes_nothing(client, staff):
    attempt = make_attempt(make_user(), make_exam())
    response = client.post(f"/admin/attempts/{attempt.id}/flag/dismissed", data={"dismiss-note": "x"})
    assert response.status_code == 422 and "not flagged" in response.get_data(as_text=True)
    assert reload(attempt).flag_resolution is None
    assert client.post("/admin/attempts/999/flag/dismissed", data={"dismiss-note": "x"}).status_code == 404
    assert client.post(f"/admin/attempts/{attempt.id}/flag/ignored", data={}).status_code == 404


def resolve(client, attempt):
    assert client.post(f"/admin/attempts/{attempt.id}/flag/accepted", data={}).status_code == 302
    return reload(attempt)


def test_the_same_report_again_does_not_raise_a_resolved_flag(client, staff, tampered):
    attempt = resolve(client, tampered)

    # The same return and webhook delivered again, a late "started" webhook, and a
    # re-evaluation: none is a new disagreement.
    record(attempt, report("return", scores=TAMPERED, testpress_attempt_id="9001"),
           report("webhook", testpress_attempt_id="9001"),
           report("webhook", status="started", testpress_attempt_id="9001"),
           report("webhook", scores=RE_EVALUATED, testpress_attempt_id="9001"))

    attempt = reload(attempt)
    assert (attempt.flagged, attempt.flag_resolution, attempt.score) == (False, "accepted", 173.0)
    assert flagged_count() == 0


def test_a_new_disagreement_raises_the_flag_again(client, staff, tampered):
    attempt = resolve(client, tampered)

    # The student replays the return with yet another score: a new claim, a new disagreement.
    other = {**TAMPERED, "score": 190.0, "correct_count": 48}
    record(attempt, report("return", scores=other, testpress_attempt_id="9001"))

    attempt = reload(attempt)
    assert attempt.flagged and flagged_count() == 1
    assert "190" in attempt.flag_reason
    page = client.get(f"/admin/attempts/{attempt.id}").get_data(as_text=True)
    assert "Possible tampering" in page and "Signed score accepted: attempt" in page  # the earlier decision kept

    # Resolved again, it stays resolved against both.
    attempt = resolve(client, attempt)
    record(attempt, report("return", scores=other, testpress_attempt_id="9001"))
    assert not reload(attempt).flagged
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 2


def test_a_return_naming_another_testpress_attempt_after_resolution_raises_it(client, staff, tampered):
    attempt = resolve(client, tampered)
    record(attempt, report("return", scores=TAMPERED, testpress_attempt_id="9999"))
    assert reload(attempt).flagged


def test_the_attempt_page_links_the_review_or_says_why_not(client, staff, tampered):
    page = client.get(f"/admin/attempts/{tampered.id}").get_data(as_text=True)
    assert f'href="/attempts/{tampered.id}/review"' in page
    review = client.get(f"/attempts/{tampered.id}/review")
    assert review.status_code == 302 and review.headers["Location"].startswith("https://testpress.example/")

    unreported = make_attempt(make_user(), make_exam())
    page = client.get(f"/admin/attempts/{unreported.id}").get_data(as_text=True)
    assert "/review" not in page and "No Testpress review yet" in page
