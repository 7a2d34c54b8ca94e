"""Importing people from a CSV file: the preview of every row with its problems, and the
confirmation that writes all the good rows in one transaction, never a problem row.

Shared by the staff pages (portal.web.admin.people_import) and `flask import-people`. The rules for
an email, a name and a password are portal.people.accounts's, for a batch name portal.people.batches': one
place each. The upload waits between its preview and its confirmation as a PeopleImport
row; its text (which may hold passwords) is deleted when confirmed, and a waiting import is
deleted after IMPORT_LIFETIME.

The columns are `email,name[,password][,batch]` (a header row; any order; case and spaces
in the names ignored). A row's problems are:

- more cells than the header (a name with an unquoted comma: "Kumar, Ravi"), trailing empty
  cells apart;
- a bad email, a missing or too long name, a password shorter than the rule;
- an email already in the file: the first row with it is imported, the later ones are problems;
- an email that someone in the portal already has (looked up in chunks, not row by row);
- a batch that does not exist (or is archived): unless staff choose to create it when
  confirming, that row is not imported.

A file with more than IMPORT_MAX_PASSWORDS rows carrying passwords is refused whole: hashing
them would outlast the request (see portal.core.passwords); such rows get one-time links instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.core import audit
from portal.core.bulk import among
from portal.core.clock import utcnow
from portal.core.csvfiles import CsvTable, NotCsv, csv_lines, decode_upload, read_table
from portal.core.database import lower_text
from portal.core.extensions import db
from portal.core.passwords import hash_imported_passwords, unusable_password_hash
from portal.core.refusals import DomainError
from portal.models import Batch, PeopleImport, User, batch_members
from portal.people.accounts import InvalidPerson, check_email, check_name, check_password
from portal.people.batches import check_batch_name, new_batch
from portal.people.password_links import issue_links

REQUIRED_COLUMNS = ("email", "name")
OPTIONAL_COLUMNS = ("password", "batch")
IMPORT_LIFETIME = timedelta(days=1)
# Emails looked up per statement: a bound array on SQLite and PostgreSQL (portal.core.bulk), kept
# to a size whose statement stays small and quick.
LOOKUP_CHUNK = 1000


class ImportRefused(ValueError):
    """A file that cannot be imported at all (not CSV, wrong columns, too many passwords);
    the message says why in a staff member's words."""


class ImportGone(Exception):
    """The import was confirmed already, or expired: nothing was written."""


class ImportRaced(Exception):
    """Someone added one of the file's emails, or a batch it creates, while the confirmation
    ran: nothing was written."""


@dataclass
class ImportRow:
    """One row of the file: its line, its cells as uploaded, the values checked, its problems."""

    line: int
    cells: dict[str, str]
    email: str = ""
    name: str = ""
    password: str = ""
    batch: str = ""  # the batch's name as checked ("" for none)
    problems: list[str] = field(default_factory=list)
    unknown_batch: bool = False  # a batch that would have to be created

    @property
    def batch_key(self) -> str:
        return self.batch.lower()


@dataclass
class Preview:
    header: list[str]
    rows: list[ImportRow]
    unknown_batches: list[str]  # names, as first written in the file
    refusal: str | None = None  # a reason the whole file cannot be imported

    @property
    def good_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if not row.problems and not row.unknown_batch]

    @property
    def problem_rows(self) -> list[ImportRow]:
        return [row for row in self.rows if row.problems or row.unknown_batch]

    def waiting_for_batch(self) -> dict[str, int]:
        """Rows whose only problem is a batch not created yet, counted by that batch's name (lower case):
        ticking it for creation makes them good rows."""
        counts: dict[str, int] = {}
        for row in self.rows:
            if row.unknown_batch and not row.problems:
                counts[row.batch_key] = counts.get(row.batch_key, 0) + 1
        return counts

    def writable(self, new_batches: Iterable[str]) -> list[ImportRow]:
        """The rows a confirmation writes, creating the batches named in `new_batches`."""
        chosen = {name.lower() for name in new_batches}
        return [row for row in self.rows
                if not row.problems and (not row.unknown_batch or row.batch_key in chosen)]

    def problem_csv_rows(self) -> Iterator[list[str]]:
        """The problem rows as the file had them, with a last "problem" column."""
        for row in self.problem_rows:
            yield [row.cells.get(name, "") for name in self.header] + [row_problem_text(row)]


@dataclass
class Outcome:
    """What a confirmation wrote: counts, the links made (with their tokens), what it left."""

    people_import: PeopleImport
    created: int
    new_batches: list[str]
    links: list[tuple[str, str, str]]  # (email, name, token) for people imported without a password
    left: list[ImportRow]  # rows not written, with their problems
    linked_ids: list[int] = field(default_factory=list)  # the people of `links`, in order

    @property
    def links_with_ids(self) -> list[tuple[int, str, str, str]]:
        """(person id, email, name, token) of each link made, for emailing them."""
        return [(person_id, *link) for person_id, link in zip(self.linked_ids, self.links, strict=True)]


def row_problem_text(row: ImportRow) -> str:
    problems = list(row.problems)
    if row.unknown_batch:
        problems.append(f"unknown batch “{row.batch}”")
    return "; ".join(problems)


def parse_upload(data: bytes) -> str:
    """The upload's text, checked to be a CSV with the import's columns; ImportRefused if not."""
    try:
        text = decode_upload(data)
        check_columns(read_table(text).header)
    except NotCsv as error:
        raise ImportRefused(str(error)) from None
    return text


def check_columns(header: list[str]) -> None:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    columns = "the columns are email, name, and optionally password and batch, in a header row"
    unknown = [name or "(a blank name)" for name in header if name not in known]
    if len(header) == 1 and ";" in header[0]:  # Excel's "CSV" in a locale whose lists use ";"
        raise ImportRefused("The file's columns are separated by semicolons: in Excel, save it as "
                            "“CSV UTF-8 (Comma delimited)”.")
    if unknown:
        raise ImportRefused(f"Unknown column{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(f'“{name}”' for name in unknown)}: {columns}.")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ImportRefused(f"The file has no {' or '.join(f'“{name}”' for name in missing)} column: {columns}.")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportRefused(f"The column “{repeated[0]}” is there twice: {columns}.")


def preview(text: str) -> Preview:
    """Every row of `text` with its problems, as the database stands now. Writes nothing.

    Raises ImportRefused for a file that is not a CSV with the import's columns.
    """
    try:
        table: CsvTable = read_table(text)
    except NotCsv as error:
        raise ImportRefused(str(error)) from None
    check_columns(table.header)
    rows = [check_row(line, cells) for line, cells in table.rows]
    for row in rows:
        if row.line in table.overlong:  # its cells past the header's were not read: say so, import nothing of it
            row.problems.insert(0, f"{table.overlong[row.line]} cells but the header has {len(table.header)}: "
                                   "put a name containing a comma in quotes")
    mark_duplicates(rows)
    mark_existing(rows)
    unknown = mark_unknown_batches(rows)
    result = Preview(table.header, rows, unknown)
    carrying = sum(1 for row in rows if row.password)
    limit = current_app.config["IMPORT_MAX_PASSWORDS"]
    if carrying > limit:
        result.refusal = (f"{carrying:,} rows carry a password; an import takes at most {limit:,}. "
                          "Leave the password column empty and hand out the one-time password links "
                          "the import makes instead.")
    if not rows:
        result.refusal = "The file has a header row but no people."
    return result


def check_row(line: int, cells: dict[str, str]) -> ImportRow:
    row = ImportRow(line=line, cells=cells, password=cells.get("password", ""))
    email = cells.get("email", "")
    if not email:
        row.problems.append("missing email")
    else:
        try:
            row.email = check_email(email)
        except InvalidPerson as error:
            row.problems.append(f"bad email: {error}")
    try:
        row.name = check_name(cells.get("name", ""))
    except InvalidPerson:
        row.problems.append("missing name" if not cells.get("name") else "name too long")
    if row.password:
        try:
            check_password(row.password)
        except InvalidPerson as error:
            row.problems.append(f"password too short: {error}")
    if cells.get("batch"):
        try:
            row.batch = check_batch_name(cells["batch"])
        except DomainError as error:
            row.problems.append(f"bad batch name: {error}")
    return row


def mark_duplicates(rows: list[ImportRow]) -> None:
    first_line: dict[str, int] = {}
    for row in rows:
        if not row.email:
            continue
        if row.email in first_line:
            row.problems.append(f"duplicate in the file (line {first_line[row.email]} has this email)")
        else:
            first_line[row.email] = row.line


def existing_emails(emails: Iterable[str]) -> set[str]:
    """Which of `emails` people already have, in one statement per LOOKUP_CHUNK emails."""
    emails = sorted(set(emails))
    found: set[str] = set()
    for start in range(0, len(emails), LOOKUP_CHUNK):
        chunk = emails[start:start + LOOKUP_CHUNK]
        found.update(db.session.scalars(sa.select(User.email).where(among(User.email, chunk))))
    return found


def mark_existing(rows: list[ImportRow]) -> list[ImportRow]:
    """Mark the rows whose email someone has; those newly marked."""
    taken = existing_emails(row.email for row in rows if row.email)
    marked = []
    for row in rows:
        if row.email in taken:
            row.problems.append("already exists")
            marked.append(row)
    return marked


def batches_named(names: Iterable[str]) -> dict[str, Batch]:
    """The batches with these names, whatever their case, by lower-cased name (one statement)."""
    keys = sorted({name.lower() for name in names})
    if not keys:
        return {}
    return {batch.name.lower(): batch for batch in db.session.scalars(
        sa.select(Batch).where(among(lower_text(Batch.name), keys)))}


def mark_unknown_batches(rows: list[ImportRow]) -> list[str]:
    """Mark rows whose batch does not exist; the unknown names, as first written."""
    named = [row for row in rows if row.batch]
    batches = batches_named(row.batch for row in named)
    unknown: dict[str, str] = {}
    for row in named:
        batch = batches.get(row.batch_key)
        if batch is None:
            row.unknown_batch = True
            unknown.setdefault(row.batch_key, row.batch)
        elif batch.archived_at is not None:
            row.problems.append(f"the batch “{batch.name}” is archived")
    return sorted(unknown.values(), key=str.lower)


def start_import(data: bytes, filename: str, *, by: User | None) -> PeopleImport:
    """Keep an upload for its preview (the caller commits); ImportRefused if it cannot be one.

    Waiting imports older than IMPORT_LIFETIME are deleted on the way: their text may hold passwords.
    """
    text = parse_upload(data)
    delete_expired()
    people_import = PeopleImport(created_by_id=by.id if by else None, filename=filename[:255], csv_text=text)
    db.session.add(people_import)
    db.session.flush()
    return people_import


def delete_expired() -> int:
    return db.session.execute(sa.delete(PeopleImport).where(
        PeopleImport.status == "pending", PeopleImport.created_at < utcnow() - IMPORT_LIFETIME)).rowcount


def pending_import(import_id: int) -> PeopleImport | None:
    """The waiting import with this id, unless it has expired."""
    people_import = db.session.get(PeopleImport, import_id)
    if people_import is None or people_import.status != "pending" or is_expired(people_import):
        return None
    return people_import


def is_expired(people_import: PeopleImport) -> bool:
    return people_import.status == "pending" and people_import.created_at < utcnow() - IMPORT_LIFETIME


def confirm(people_import: PeopleImport, *, by: User | None, new_batches: Iterable[str] = ()) -> Outcome:
    """Write every good row of a waiting import (the people, their batches, the batches chosen
    among `new_batches`, a one-time link for each person without a password) and one audit
    entry; never a problem row. The caller commits, so that all of it is one transaction.

    The rows are checked again against the database first: a row whose email someone took
    since the preview is left, and reported. Raises ImportGone if the import was confirmed
    (by another request too) or has expired, ImportRefused if the file is refused whole,
    ImportRaced if an email was taken while this ran (the session is rolled back).
    """
    if people_import.status != "pending" or is_expired(people_import) or people_import.csv_text is None:
        raise ImportGone()
    checked = preview(people_import.csv_text)
    if checked.refusal:
        raise ImportRefused(checked.refusal)
    chosen = {name.lower() for name in new_batches} & {name.lower() for name in checked.unknown_batches}
    rows = checked.writable(chosen)
    # Hashed before the first write: the hashing takes seconds, and no lock is held meanwhile.
    with_password = [row for row in rows if row.password]
    hashes = dict(zip((row.line for row in with_password),
                      hash_imported_passwords([row.password for row in with_password]), strict=True))

    # The first write claims the import: of two confirmations at once, the second finds none to claim.
    claimed = db.session.execute(
        sa.update(PeopleImport).where(PeopleImport.id == people_import.id, PeopleImport.status == "pending")
        .values(status="confirmed", confirmed_at=utcnow(), csv_text=None)).rowcount
    if claimed != 1:
        db.session.rollback()
        raise ImportGone()
    # Again under the write: someone may have added one of these emails since the check above.
    mark_existing(rows)
    rows = [row for row in rows if not row.problems]

    batch_ids = {key: batch.id for key, batch in batches_named(row.batch for row in rows if row.batch).items()}
    created_batches = sorted({row.batch_key: row.batch for row in rows
                              if row.batch and row.batch_key not in batch_ids}.values(), key=str.lower)
    now = utcnow()
    try:
        # A chosen batch someone created since the preview is found above and used, not made twice.
        # new_batch, not create_batch: the import's one entry below names the batches it made.
        for name in created_batches:
            batch_ids[name.lower()] = new_batch(name).id
        # The table's insert, not the ORM's bulk insert: the same executemany (batched into
        # multi-row VALUES with RETURNING), without the ORM's bookkeeping per row.
        users = User.__table__
        ids = dict(db.session.execute(
            sa.insert(users).returning(users.c.email, users.c.id),
            [{"email": row.email, "name": row.name, "is_staff": False, "active": True, "created_at": now,
              "session_version": 1,
              "password_hash": hashes.get(row.line) or unusable_password_hash()} for row in rows],
        ).all()) if rows else {}
    except (sa.exc.IntegrityError, DomainError):  # an email or a batch name taken meanwhile
        db.session.rollback()
        raise ImportRaced() from None
    memberships = [{"batch_id": batch_ids[row.batch_key], "user_id": ids[row.email]} for row in rows if row.batch]
    if memberships:
        db.session.execute(sa.insert(batch_members), memberships)
    linked = [row for row in rows if not row.password]
    tokens = issue_links([ids[row.email] for row in linked], by=by, import_id=people_import.id)

    written = {id(row) for row in rows}
    left = [row for row in checked.rows if id(row) not in written]
    # What is kept of the rows not written: their cells without a password, to fix and upload again.
    db.session.execute(sa.update(PeopleImport).where(PeopleImport.id == people_import.id).values(
        created_count=len(rows),
        leftover_csv="".join(csv_lines(checked.header + ["problem"], (
            [("" if name == "password" else row.cells.get(name, "")) for name in checked.header]
            + [row_problem_text(row)] for row in left))) if left else None))
    audit.record(by, "people.import", "import", people_import.id, summary_line(
        people_import.filename, len(rows), len(left), created_batches, len(linked)),
        after={"created": len(rows), "not_imported": len(left), "new_batches": created_batches, "links": len(linked),
               "with_password": len(rows) - len(linked)})
    db.session.flush()
    db.session.expire(people_import)
    return Outcome(people_import, len(rows), created_batches,
                   [(row.email, row.name, token) for row, token in zip(linked, tokens, strict=True)], left,
                   [ids[row.email] for row in linked])


def summary_line(filename: str, created: int, left: int, new_batches: list[str], links: int) -> str:
    parts = [f"Imported {created:,} {'person' if created == 1 else 'people'}"
             + (f" from {filename}" if filename else "")]
    if left:
        parts.append(f"{left:,} row{'s' if left != 1 else ''} not imported")
    if new_batches:
        parts.append(f"new batch{'es' if len(new_batches) > 1 else ''}: {', '.join(new_batches)}")
    if links:
        parts.append(f"{links:,} one-time password link{'s' if links != 1 else ''}")
    return "; ".join(parts)
