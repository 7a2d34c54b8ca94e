"""Importing people from a CSV file: the preview, the confirmation, the downloads, the limits."""

import csv
import html
import io
import json
import re
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.core.passwords import check_password, needs_rehash
from portal.models import AuditEntry, Batch, PasswordLink, PeopleImport, User, batch_members
from portal.people import importing as people_import
from portal.people.password_links import redeem
from tests.factories import make_staff, make_user

GOOD_AND_BAD = (
    "email,name,password,batch\n"
    "asha@example.com,Asha Rao,,Morning\n"          # 2 good, existing batch
    "RAVI@example.com,Ravi Kumar,longenough1,\n"    # 3 good, with a password
    "not-an-email,Nobody,,\n"                       # 4 bad email
    "asha@example.com,Asha Again,,\n"               # 5 duplicate of line 2
    "taken@example.com,Already Here,,\n"            # 6 already exists
    "nameless@example.com,,,\n"                     # 7 missing name
    "newbie@example.com,New Batch Person,,Evening\n"  # 8 unknown batch
    "short@example.com,Short Pass,abc,\n"           # 9 password too short
)


@pytest.fixture
def staff_client(client, auth):
    make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return client


@pytest.fixture
def morning():
    batch = Batch(name="Morning")
    db.session.add(batch)
    db.session.commit()
    return batch


def people_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id)))


def upload(client, text: str | bytes, filename="people.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post("/admin/people/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def uploaded(client, text) -> int:
    response = upload(client, text)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def read_download(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def links_download(response) -> tuple[str, list[list[str]]]:
    """The confirmation page's links download: its file name and its rows."""
    page = response.get_data(as_text=True)
    found = re.search(r'<a class="button primary" href="data:text/csv;charset=utf-8,([^"]+)" download="([^"]+)"', page)
    assert found, page
    text = unquote(html.unescape(found.group(1)))
    assert text.startswith("\ufeff")
    return found.group(2), list(csv.reader(io.StringIO(text[1:])))


def test_the_preview_shows_every_row_with_its_problem_and_writes_nothing(staff_client, morning):
    make_user("taken@example.com")
    before = people_count()
    import_id = uploaded(staff_client, GOOD_AND_BAD)
    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "bad email" in page
    assert "duplicate in the file (line 2 has this email)" in page
    assert "already exists" in page
    assert "missing name" in page
    assert "unknown batch “Evening”" in page
    assert 'name="new_batch" value="Evening"' in page  # offered to be created
    assert "password too short" in page
    # Two good rows of eight, counted; every line is listed with its number.
    assert "<b>8</b><span>rows</span>" in page and "<b>2</b><span>good rows" in page
    assert "<b>6</b><span>rows with a problem" in page
    for line in range(2, 10):
        assert f'<td class="num" data-label="Line">{line}</td>' in page
    assert "longenough1" not in page  # a password is never shown
    assert people_count() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(batch_members)) == 0


def test_a_row_with_more_cells_than_the_header_is_a_problem_row_not_a_truncated_name(staff_client):
    before = people_count()
    import_id = uploaded(staff_client, "email,name\r\n"
                                       "ravi@example.com,Kumar, Ravi\r\n"  # an unquoted comma in the name
                                       'asha@example.com,"Rao, Asha"\r\n'  # quoted: one cell
                                       "meera@example.com,Meera Iyer,,\r\n")  # Excel's trailing empty cells
    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "3 cells but the header has 2: put a name containing a comma in quotes" in page
    assert "<b>2</b><span>good rows" in page and "<b>1</b><span>rows with a problem" in page

    staff_client.post(f"/admin/people/import/{import_id}/confirm")
    names = dict(db.session.execute(sa.select(User.email, User.name)).all())
    assert "ravi@example.com" not in names  # never imported as "Kumar"
    assert (names["asha@example.com"], names["meera@example.com"]) == ("Rao, Asha", "Meera Iyer")
    assert people_count() == before + 2


def test_confirm_writes_the_good_rows_and_never_a_problem_row(staff_client, morning):
    make_user("taken@example.com", name="Already Here")
    before = people_count()
    import_id = uploaded(staff_client, GOOD_AND_BAD)
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm")
    # The page says what was written, and offers the links at once.
    assert response.status_code == 200 and "Import confirmed" in response.get_data(as_text=True)
    assert len(links_download(response)[1]) == 2
    assert people_count() == before + 2
    emails = set(db.session.scalars(sa.select(User.email)))
    assert {"asha@example.com", "ravi@example.com"} <= emails
    assert not {"nameless@example.com", "newbie@example.com", "short@example.com", "not-an-email"} & emails
    asha = db.session.scalar(sa.select(User).where(User.email == "asha@example.com"))
    assert asha.name == "Asha Rao" and [batch.name for batch in asha.batches] == ["Morning"]
    assert not check_password(asha.password_hash, "")  # no password opens it until the link
    ravi = db.session.scalar(sa.select(User).where(User.email == "ravi@example.com"))
    assert check_password(ravi.password_hash, "longenough1")
    assert needs_rehash(ravi.password_hash)  # the import's lighter profile, upgraded at login
    # The upload's text (with its passwords) is gone; the rows left are kept without theirs.
    stored = db.session.get(PeopleImport, import_id)
    assert stored.status == "confirmed" and stored.csv_text is None and stored.created_count == 2
    assert "abc" not in stored.leftover_csv and "short@example.com" in stored.leftover_csv


def test_ticked_unknown_batches_are_created_and_their_rows_imported(staff_client):
    import_id = uploaded(staff_client, "email,name,batch\na@example.com,A,Evening\nb@example.com,B,Night\n")
    staff_client.post(f"/admin/people/import/{import_id}/confirm", data={"new_batch": ["Evening"]})
    assert db.session.scalars(sa.select(Batch.name)).all() == ["Evening"]
    assert db.session.scalar(sa.select(User).where(User.email == "a@example.com")).batches[0].name == "Evening"
    assert db.session.scalar(sa.select(User).where(User.email == "b@example.com")) is None


def test_the_links_csv_holds_a_working_one_time_link_per_person_without_a_password(staff_client, client):
    import_id = uploaded(staff_client, "email,name,password\na@example.com,Anu,\nb@example.com,Bala,longenough1\n")
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm")
    filename, rows = links_download(response)
    assert filename == f"people-import-{import_id}-links.csv"
    assert rows[0] == ["email", "name", "link"]
    assert [row[:2] for row in rows[1:]] == [["a@example.com", "Anu"]]  # Bala has a password
    link = rows[1][2]
    assert link.startswith("http://localhost/password/")
    token = link.rsplit("/", 1)[1]
    # Only the token's hash is stored.
    assert db.session.scalar(sa.select(PasswordLink.token_hash)) != token
    assert token not in json.dumps([entry.summary for entry in db.session.scalars(sa.select(AuditEntry))])
    staff_client.post("/logout")
    path = link.removeprefix("http://localhost")
    assert client.get(path).status_code == 200
    assert client.post(path, data={"password": "anus-new-pass", "confirm": "anus-new-pass"}).status_code == 302
    anu = db.session.scalar(sa.select(User).where(User.email == "a@example.com"))
    db.session.refresh(anu)
    assert check_password(anu.password_hash, "anus-new-pass")
    assert client.get(path).status_code == 404  # once only
    assert redeem(token, "another-password") is None


def test_confirm_without_links_goes_to_the_summary(staff_client):
    import_id = uploaded(staff_client, "email,name,password\nb@example.com,Bala,longenough1\n")
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm")
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/people/import/{import_id}"
    page = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Import confirmed" in page and "Imported 1 person from people.csv" in page
    assert "Every row was imported." in page


def test_confirming_twice_writes_once(staff_client):
    import_id = uploaded(staff_client, "email,name,password\nb@example.com,Bala,longenough1\n")
    staff_client.post(f"/admin/people/import/{import_id}/confirm")
    again = staff_client.post(f"/admin/people/import/{import_id}/confirm", follow_redirects=True)
    assert "This import was confirmed already." in again.get_data(as_text=True)
    assert people_count() == 2
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == 1


def test_a_failure_midway_writes_nothing(staff_client, monkeypatch):
    import_id = uploaded(staff_client, "email,name,batch\na@example.com,Anu,Evening\nb@example.com,Bala,\n")

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(people_import, "issue_links", broken)  # after the people and batches are written
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm", data={"new_batch": ["Evening"]})
    assert response.status_code == 500
    db.session.rollback()
    assert people_count() == 1  # the staff member only
    assert db.session.scalar(sa.select(sa.func.count(Batch.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == 0
    assert db.session.get(PeopleImport, import_id).status == "pending"  # it can be confirmed again


def test_a_row_that_became_a_problem_since_the_preview_is_reported_not_written(staff_client):
    import_id = uploaded(staff_client, "email,name,password\na@example.com,Anu,longenough1\n"
                                       "b@example.com,Bala,longenough1\n")
    assert "<b>2</b><span>good rows" in staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    make_user("b@example.com", name="Added Meanwhile")
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "1 row not imported" in page
    assert ('<td data-label="Email">b@example.com</td><td data-label="Name">Bala</td>'
            '<td data-label="Problem">already exists</td>' in page)
    assert db.session.scalar(sa.select(User.name).where(User.email == "b@example.com")) == "Added Meanwhile"
    rows = read_download(staff_client.get(f"/admin/people/import/{import_id}/problems.csv"))
    assert rows == [["email", "name", "password", "problem"],
                    ["b@example.com", "Bala", "", "already exists"]]


def test_an_email_taken_during_the_confirmation_writes_nothing(staff_client, monkeypatch):
    import_id = uploaded(staff_client, "email,name,password\na@example.com,Anu,longenough1\n")
    real_hash = people_import.hash_imported_passwords

    def hash_while_someone_adds_anu(passwords):
        make_user("a@example.com", name="Someone Else")  # committed between the checks and the insert
        monkeypatch.setattr(people_import, "mark_existing", lambda rows: [])
        return real_hash(passwords)

    monkeypatch.setattr(people_import, "hash_imported_passwords", hash_while_someone_adds_anu)
    response = staff_client.post(f"/admin/people/import/{import_id}/confirm")
    assert response.status_code == 409
    assert "nothing was written" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.name).where(User.email == "a@example.com")) == "Someone Else"
    assert db.session.get(PeopleImport, import_id).status == "pending"


def test_problem_csv_has_the_files_columns_and_a_problem_column_with_formulas_neutralised(staff_client):
    import_id = uploaded(staff_client, "name,email,batch\n=HYPERLINK(\"http://evil\"),bad,@SUM(A1)\nGood,g@example.com,\n")
    response = staff_client.get(f"/admin/people/import/{import_id}/problems.csv")
    assert response.mimetype == "text/csv"
    rows = read_download(response)
    assert rows[0] == ["name", "email", "batch", "problem"]
    assert len(rows) == 2  # the good row is not there
    assert rows[1][0] == "'=HYPERLINK(\"http://evil\")" and rows[1][2] == "'@SUM(A1)"
    assert rows[1][3].startswith("bad email")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["without BOM", "with BOM"])
def test_utf8_with_or_without_a_bom(staff_client, bom):
    import_id = uploaded(staff_client, bom + "Email,Name\r\nmeera@example.com,Meera Nāyar\r\n".encode())
    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "Meera Nāyar" in page and "<b>1</b><span>good rows" in page


@pytest.mark.parametrize(("data", "message"), [
    ("email,name\nmeera@example.com,Meera Nāyar\n".encode("cp1252", errors="replace").replace(b"?", b"\xe2"),
     "The file is not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "holds binary data"),
    (b"", "The file is empty"),
    (b"email,phone\na@example.com,1\n", "Unknown column “phone”"),
    (b"email\na@example.com\n", "The file has no “name” column"),
    (b"email;name\na@example.com;Anu\n", "separated by semicolons"),
], ids=["not UTF-8", "binary", "empty", "unknown column", "missing column", "semicolons"])
def test_a_file_that_cannot_be_imported_gets_a_clear_message(staff_client, data, message):
    response = upload(staff_client, data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 0


def test_a_file_over_the_limit_is_413(make_app, auth):
    app = make_app(IMPORT_MAX_BYTES=2000)
    client = app.test_client()
    with app.app_context():
        make_staff("boss@example.com")
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    big = "email,name\n" + "".join(f"p{n}@example.com,Person {n}\n" for n in range(200))
    response = upload(client, big)
    assert response.status_code == 413
    assert "larger than the" in response.get_data(as_text=True) and "Split it" in response.get_data(as_text=True)
    # The limit is the import's own: larger than the 1 MB every other request has.
    assert upload(client, "email,name\na@example.com,A\n").status_code == 303


def test_the_import_takes_a_file_larger_than_other_requests(staff_client, app):
    rows = "".join(f"person{n}@example.com,Person Number {n}\n" for n in range(40_000))
    data = ("email,name\n" + rows).encode()
    assert app.config["MAX_CONTENT_LENGTH"] < len(data) < app.config["IMPORT_MAX_BYTES"]
    assert upload(staff_client, data).status_code == 303


def test_too_many_passwords_are_refused_in_the_preview(staff_client, app):
    app.config["IMPORT_MAX_PASSWORDS"] = 2
    import_id = uploaded(staff_client, "email,name,password\n" + "".join(
        f"p{n}@example.com,P {n},longenough{n}\n" for n in range(3)))
    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "3 rows carry a password; an import takes at most 2" in page
    assert "Confirm import" not in page
    assert staff_client.post(f"/admin/people/import/{import_id}/confirm").status_code == 422
    assert people_count() == 1


def test_an_old_upload_expires(staff_client):
    import_id = uploaded(staff_client, "email,name,password\na@example.com,Anu,longenough1\n")
    stored = db.session.get(PeopleImport, import_id)
    stored.created_at = utcnow() - people_import.IMPORT_LIFETIME - people_import.timedelta(minutes=1)
    db.session.commit()
    assert staff_client.get(f"/admin/people/import/{import_id}").status_code == 410
    assert staff_client.post(f"/admin/people/import/{import_id}/confirm").status_code == 410
    assert people_count() == 1
    uploaded(staff_client, "email,name\nb@example.com,B\n")  # the next upload deletes the expired one
    old = utcnow() - people_import.IMPORT_LIFETIME
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id)).where(PeopleImport.created_at < old)) == 0
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 1


def test_the_import_is_audited_without_secrets(staff_client):
    import_id = uploaded(staff_client, "email,name,password,batch\na@example.com,Anu,,X\n"
                                       "b@example.com,Bala,longenough1,\n"
                                       "bad,Bad,,\n")
    staff_client.post(f"/admin/people/import/{import_id}/confirm", data={"new_batch": "X"})
    entry = db.session.scalar(sa.select(AuditEntry))
    assert entry.action == "people.import" and entry.target_type == "import" and entry.target_id == import_id
    assert entry.actor.email == "boss@example.com"
    assert entry.summary == ("Imported 2 people from people.csv; 1 row not imported; new batch: X; "
                             "1 one-time password link")
    assert json.loads(entry.after) == {"created": 2, "not_imported": 1, "new_batches": ["X"], "links": 1,
                                       "with_password": 1}
    assert "longenough1" not in entry.summary + entry.after


def test_existing_emails_are_looked_up_in_chunks(app, monkeypatch):
    make_user("p3@example.com")
    monkeypatch.setattr(people_import, "LOOKUP_CHUNK", 2)
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    found = people_import.existing_emails([f"p{n}@example.com" for n in range(5)])
    assert found == {"p3@example.com"}
    assert len([sql for sql in statements if "FROM users" in sql]) == 3  # 5 emails, 2 a statement


def test_the_cli_previews_and_imports_only_with_confirm(app, runner, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,name,password\na@example.com,Anu,longenough1\nbad,Bad,\nc@example.com,Chitra,\n",
                    encoding="utf-8-sig")
    preview = runner.invoke(args=["import-people", str(path)])
    assert preview.exit_code == 0, preview.output
    assert "line 3: bad: bad email" in preview.output
    assert "3 rows: 2 to import, 1 with a problem." in preview.output
    assert "Nothing written" in preview.output
    assert people_count() == 0 and db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 0
    refused = runner.invoke(args=["import-people", str(path), "--confirm"])
    assert refused.exit_code == 2 and "--links FILE" in refused.output
    links = tmp_path / "links.csv"
    result = runner.invoke(args=["import-people", str(path), "--confirm", "--links", str(links),
                                 "--base-url", "https://portal.example"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 people from people.csv; 1 row not imported; 1 one-time password link." in result.output
    assert set(db.session.scalars(sa.select(User.email))) == {"a@example.com", "c@example.com"}
    rows = list(csv.reader(io.StringIO(links.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["email", "name", "link"] and rows[1][:2] == ["c@example.com", "Chitra"]
    assert rows[1][2].startswith("https://portal.example/password/")
    entry = db.session.scalar(sa.select(AuditEntry))
    assert entry.actor_id is None and entry.action == "people.import"


def test_the_cli_refuses_a_file_that_is_not_csv(app, runner, tmp_path):
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    result = runner.invoke(args=["import-people", str(path)])
    assert result.exit_code == 1 and "binary data" in result.output


def test_an_archived_batch_is_a_problem(staff_client, morning):
    morning.archived_at = utcnow()
    db.session.commit()
    import_id = uploaded(staff_client, "email,name,batch\na@example.com,Anu,morning\n")
    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "the batch “Morning” is archived" in page and "<b>0</b><span>good rows" in page


def test_a_batch_is_matched_whatever_its_case(staff_client, morning):
    import_id = uploaded(staff_client, "email,name,batch\na@example.com,Anu,  MORNING \n")
    staff_client.post(f"/admin/people/import/{import_id}/confirm")
    assert [batch.name for batch in db.session.scalar(sa.select(User).where(User.email == "a@example.com")).batches] \
        == ["Morning"]
    assert db.session.scalar(sa.select(sa.func.count(Batch.id))) == 1


def test_a_non_ascii_batch_name_is_matched_whatever_its_case(staff_client):
    db.session.add(Batch(name="Élite Évening"))
    db.session.commit()
    import_id = uploaded(staff_client, "email,name,batch\na@example.com,Anu,ÉLITE évening\n")
    assert "unknown batch" not in staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    staff_client.post(f"/admin/people/import/{import_id}/confirm")
    assert [batch.name for batch in db.session.scalar(sa.select(User).where(User.email == "a@example.com")).batches] \
        == ["Élite Évening"]
    assert db.session.scalar(sa.select(sa.func.count(Batch.id))) == 1


def test_the_cli_creates_a_batch_it_is_asked_to(app, runner, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,name,password,batch\na@example.com,Anu,longenough1,Evening\n")
    unknown = runner.invoke(args=["import-people", str(path)])
    assert "Unknown batches (create them with --create-batch): Evening" in unknown.output
    assert "1 rows: 0 to import, 1 with a problem." in unknown.output
    wrong = runner.invoke(args=["import-people", str(path), "--create-batch", "Night"])
    assert wrong.exit_code == 2 and "names no unknown batch “Night”" in wrong.output
    result = runner.invoke(args=["import-people", str(path), "--create-batch", "evening", "--confirm"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(User).where(User.email == "a@example.com")).batches[0].name == "Evening"


def test_expired_uploads_are_deleted_by_the_page_and_the_command(staff_client, runner):
    for _ in range(2):
        uploaded(staff_client, "email,name,password\na@example.com,Anu,longenough1\n")
    db.session.execute(sa.update(PeopleImport).values(created_at=utcnow() - people_import.IMPORT_LIFETIME * 2))
    db.session.commit()
    result = runner.invoke(args=["expire-imports"])
    assert result.exit_code == 0 and "Deleted 2 unconfirmed imports older than a day." in result.output
    uploaded(staff_client, "email,name\na@example.com,Anu\n")
    db.session.execute(sa.update(PeopleImport).values(created_at=utcnow() - people_import.IMPORT_LIFETIME * 2))
    db.session.commit()
    assert staff_client.get("/admin/people/import").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 0


def test_an_upload_without_a_file_is_refused(staff_client):
    response = staff_client.post("/admin/people/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a CSV file to upload." in response.get_data(as_text=True)


def test_an_email_taken_while_the_passwords_hash_is_left_and_the_rest_written(staff_client, monkeypatch):
    import_id = uploaded(staff_client, "email,name,password\na@example.com,Anu,longenough1\n"
                                       "b@example.com,Bala,longenough1\n")
    real_hash = people_import.hash_imported_passwords

    def hash_while_someone_adds_anu(passwords):
        make_user("a@example.com", name="Someone Else")  # after the confirmation's first check
        return real_hash(passwords)

    monkeypatch.setattr(people_import, "hash_imported_passwords", hash_while_someone_adds_anu)
    page = staff_client.post(f"/admin/people/import/{import_id}/confirm", follow_redirects=True).get_data(as_text=True)
    assert "Imported 1 person from people.csv; 1 row not imported" in page
    assert ('<td data-label="Email">a@example.com</td><td data-label="Name">Anu</td>'
            '<td data-label="Problem">already exists</td>' in page)
    assert db.session.scalar(sa.select(User.name).where(User.email == "a@example.com")) == "Someone Else"
    assert db.session.scalar(sa.select(User.name).where(User.email == "b@example.com")) == "Bala"


def test_a_file_whose_name_holds_a_nul_is_a_400_and_nothing_is_kept(staff_client):
    response = upload(staff_client, "email,name\nnew@example.com,New Person\n", filename="people\x00.csv")
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 0


def test_a_file_of_half_a_million_bad_rows_previews_in_a_bounded_page_and_downloads_them_all(staff_client, app):
    lines = [f"x{n}" for n in range(app.config["IMPORT_MAX_BYTES"] // 9)]  # "x123456\n": a bad email, no name
    good = ["asha@example.com,Asha Rao", "ravi@example.com,Ravi Kumar"]
    import_id = uploaded(staff_client, "email,name\n" + "\n".join(good + lines) + "\n")

    response = staff_client.get(f"/admin/people/import/{import_id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and len(page) < 250_000
    assert f"<b>{len(lines):,}</b><span>rows with a problem" in page
    assert f"The first 200 of {len(lines):,} rows with a problem are shown; the download holds them all." in page
    assert page.count('data-label="Line"') == 200 + len(good)
    assert "asha@example.com" in page and "ravi@example.com" in page
    download = read_download(staff_client.get(f"/admin/people/import/{import_id}/problems.csv"))
    assert len(download) == 1 + len(lines) and download[-1][0] == lines[-1]

    staff_client.post(f"/admin/people/import/{import_id}/confirm")
    summary = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert len(summary) < 250_000 and "2 people imported" in summary
    assert f"The first 200 of {len(lines):,} are shown; the download holds them all." in summary


def test_a_preview_shows_long_cells_cut_and_offers_a_bounded_number_of_new_batches(staff_client):
    batches = [f"Batch {n:03}" for n in range(120)]
    rows = [f"p{n}@example.com,Person {n},,{batch}" for n, batch in enumerate(batches)]
    import_id = uploaded(staff_client, "email,name,password,batch\n" + "\n".join(rows)
                         + "\nlong@example.com," + "N" * 5000 + ",,\n")

    page = staff_client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)

    assert page.count('name="new_batch"') == 50
    assert "The file names 120 new batches; the first 50 are offered here." in page
    assert "N" * 81 not in page and "name too long" in page
