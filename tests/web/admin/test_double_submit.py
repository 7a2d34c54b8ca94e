"""A staff form sent twice at once (a double click, two tabs, two staff) gives one result and,
to the second, a message: never a 500, never the change made twice.

The interleaving is forced: the first request is held after it decided and wrote but before
it committed (at its audit entry, which every staff change writes there), while the second
arrives. Before the recording lock, the second then decided on the same state and met the
first's row in a unique index (IntegrityError, a 500) or SQLite's write lock.
"""

import threading

import pytest
import sqlalchemy as sa

from portal.core import audit
from portal.core.extensions import db
from portal.models import AuditEntry, Exam
from portal.people.batches import add_members, create_batch
from tests.factories import PASSWORD, make_exam, make_staff, make_user


def with_batch(members=()):
    batch = create_batch("Morning", by=None)
    add_members(batch, members)
    return batch


# name: (set up for Asha's id, returning the form's url and fields; the audit action; what the second press says)
FORMS = {
    "create a batch": (lambda asha: ("/admin/batches/new", {"name": "Morning"}),
                       "batch.create", "a batch named Morning already exists"),
    "add members": (lambda asha: (f"/admin/batches/{with_batch().id}/members",
                             {"emails": "asha@example.com, ravi@example.com"}),
                    "batch.add_members", "Added 0 people"),
    "add a person to a batch": (lambda asha: (f"/admin/people/{asha}/batches", {"batch": with_batch().id}),
                                "person.batch_add", "Already in Morning"),
    "remove a member": (lambda asha: (f"/admin/batches/{with_batch([asha]).id}/members/{asha}/remove",
                                 {}), "batch.remove_member", "was not in"),
    "archive a batch": (lambda asha: (f"/admin/batches/{with_batch().id}/archive", {"archived": "1"}),
                        "batch.archive", "is already archived"),
    "rename a batch": (lambda asha: (f"/admin/batches/{with_batch().id}/rename", {"name": "Evening"}),
                       "batch.rename", "is called “Evening”"),
    "publish an exam": (lambda asha: (f"/admin/exams/{make_exam(published=False).id}/publish", {"published": "1"}),
                        "exam.publish", "is already published"),
    "archive an exam": (lambda asha: (f"/admin/exams/{make_exam().id}/archive", {}), "exam.archive", "is archived"),
    "delete an exam": (lambda asha: (f"/admin/exams/{make_exam().id}/delete", {}), "exam.delete", "Page not found"),
    "add a person": (lambda asha: ("/admin/people/new", {"email": "new@example.com", "name": "New Person",
                                                    "password": PASSWORD}),
                     "person.create", "already exists"),
}


@pytest.fixture
def staff_browsers(make_app):
    app = make_app()
    with app.app_context():
        make_staff("boss@example.com")
        app.config["ASHA_ID"] = make_user("asha@example.com").id
        make_user("ravi@example.com")
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        assert browser.post("/login", data={"email": "boss@example.com", "password": PASSWORD}).status_code == 302
    return app, browsers


@pytest.mark.parametrize("form", FORMS)
def test_a_staff_form_sent_twice_at_once_gives_one_result_and_a_message(staff_browsers, monkeypatch, form):
    app, (first, second) = staff_browsers
    set_up, action, message = FORMS[form]
    with app.app_context():
        url, fields = set_up(app.config["ASHA_ID"])
        db.session.commit()

    decided, release = threading.Event(), threading.Event()
    real = audit.record

    def held(*args, **kwargs):
        entry = real(*args, **kwargs)
        if not decided.is_set():
            decided.set()
            assert release.wait(10)
        return entry

    monkeypatch.setattr(audit, "record", held)
    answers = {}

    def press(name, browser):
        response = browser.post(url, data=fields)
        page = browser.get(response.headers["Location"]) if response.status_code in (302, 303) else response
        answers[name] = (response.status_code, page.get_data(as_text=True))

    pressing = threading.Thread(target=press, args=("first", first))
    pressing.start()
    assert decided.wait(10)
    again = threading.Thread(target=press, args=("second", second))
    again.start()
    again.join(0.5)  # the second waits for the lock (before it, it went on here)
    release.set()
    pressing.join(10), again.join(10)

    assert answers["first"][0] in (200, 302, 303)
    assert answers["second"][0] < 500, answers["second"]
    assert message in answers["second"][1]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == action)) == 1
        if action == "exam.delete":
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Exam)) == 0
