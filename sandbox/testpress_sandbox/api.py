"""Testpress's Admin API (v2.5): token login, attempts, exams and users, paginated like DRF."""

from __future__ import annotations

import hmac
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from . import faults
from .models import COMPLETED, NOT_STARTED, RUNNING, Attempt, Exam, User, clock, db, iso, marks_text, percentage_text

bp = Blueprint("api", __name__, url_prefix="/api/v2.5")

STATES = {"0": RUNNING, "1": COMPLETED, "3": NOT_STARTED}
ORDERING = {
    "date": Attempt.date,
    "correct_answers_count": Attempt.correct_answers_count,
    "incorrect_answers_count": Attempt.incorrect_answers_count,
    "unanswered_count": Attempt.unanswered_count,
}


# What attempt_json shows of an attempt, in the order it unpacks them.
ATTEMPT_COLUMNS = (
    Attempt.id, Attempt.date, Attempt.exam_id, Attempt.user_id, Attempt.state, Attempt.institute_attempt_id,
    Attempt.started_at, Attempt.last_answer_updated_at, Attempt.completed_at, Attempt.total_count,
    Attempt.correct_answers_count, Attempt.incorrect_answers_count, Attempt.unanswered_count,
    Attempt.score, Attempt.max_score,
)


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status = status
        self.body = body


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    response = jsonify(error.body)
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'JWT realm="api"'
    return response


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="testpress-sandbox-api-token")


@bp.before_request
def apply_faults_and_authenticate():
    """Faults first (a real outage hits login too), then every endpoint but login needs a JWT."""
    delay = faults.current().api_delay
    if delay:
        time.sleep(delay)
    planned = faults.take_api_fault()
    if planned is not None:
        status, retry_after = planned
        if status == 429:
            response = jsonify(detail=f"Request was throttled. Expected available in {retry_after} seconds.")
            response.status_code = 429
            response.headers["Retry-After"] = str(retry_after)
            return response
        return jsonify(detail="A server error occurred."), 500
    if request.endpoint != "api.auth_token":
        authenticate()


def authenticate() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "JWT" or not token.strip():
        raise ApiError(401, {"detail": "Authentication credentials were not provided."})
    try:
        claims = _serializer().loads(token.strip(), max_age=current_app.config["TOKEN_TTL"])
    except SignatureExpired:
        raise ApiError(401, {"detail": "Signature has expired."}) from None
    except BadSignature:
        raise ApiError(401, {"detail": "Error decoding signature."}) from None
    if claims.get("generation") != faults.token_generation():
        raise ApiError(401, {"detail": "Signature has expired."})


@bp.post("/auth-token/")
def auth_token():
    """Exchange the admin's username and password for a token; 400 with DRF-style errors otherwise."""
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(data, dict):
        data = {}
    username, password = str(data.get("username") or ""), str(data.get("password") or "")
    missing = {name: ["This field is required."] for name, value in (("username", username), ("password", password))
               if not value}
    if missing:
        raise ApiError(400, missing)
    config = current_app.config
    known = hmac.compare_digest(username.encode(), config["API_USERNAME"].encode()) & hmac.compare_digest(
        password.encode(), config["API_PASSWORD"].encode()
    )
    if not known:
        raise ApiError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
    token = _serializer().dumps({"user": username, "generation": faults.token_generation()})
    return jsonify(token=token)


def base_url() -> str:
    return (current_app.config["BASE_URL"] or request.host_url).rstrip("/")


def page_link(page: int | None) -> str:
    """This request's URL at another page, every filter kept; page None drops it, like DRF's page 1."""
    args = [(name, value) for name, value in request.args.items(multi=True) if name != "page"]
    if page is not None:
        args.append(("page", str(page)))
    query = urlencode(args)
    return f"{base_url()}{request.path}" + (f"?{query}" if query else "")


def paginated(statement: sa.Select, serialise, *, rows: bool = False) -> dict:
    """One DRF-style page of ``statement``: {count, next, previous, per_page, results}.

    ``serialise`` is given each ORM object; with ``rows``, the page's rows in one list,
    answering their results.
    """
    config = current_app.config
    try:
        per_page = int(request.args.get("page_size", config["API_PAGE_SIZE"]))
        if per_page < 1:
            raise ValueError
    except ValueError:
        per_page = config["API_PAGE_SIZE"]  # DRF falls back to the default for a bad page_size
    per_page = min(per_page, config["API_MAX_PAGE_SIZE"])
    page_text = request.args.get("page", "1")
    if not page_text.isdigit() or int(page_text) < 1:
        raise ApiError(404, {"detail": "Invalid page."})
    page = int(page_text)

    count = db.session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery()))
    last_page = max(1, -(-count // per_page))
    if page > last_page:
        raise ApiError(404, {"detail": "Invalid page."})
    result = db.session.execute(statement.limit(per_page).offset((page - 1) * per_page))
    results = serialise(result.all()) if rows else [serialise(item) for item in result.scalars()]
    return {
        "count": count,
        "next": page_link(page + 1) if page < last_page else None,
        "previous": None if page == 1 else page_link(None if page == 2 else page - 1),
        "per_page": per_page,
        "results": results,
    }


def _moment(text: str, name: str, end_of_day: bool) -> datetime:
    """A date or ISO datetime filter as naive UTC; a bare date covers its whole day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, {name: ["Enter a valid date."]}) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _ids(name: str) -> list[int]:
    values = [part for value in request.args.getlist(name) for part in value.split(",") if part.strip()]
    if not all(value.strip().isdigit() for value in values):
        raise ApiError(400, {name: ["Enter a whole number."]})
    return [int(value) for value in values]


@bp.get("/admin/attempts/")
def attempts():
    """All attempts, filtered by state, date_0, date_1, users, exams and sorted by ordering.
    400 for a bad filter, 401 without a valid token, 404 for a page past the end."""
    args = request.args
    # Plain rows of the columns shown rather than ORM objects: building those (answers and
    # all) for a page of a thousand attempts cost more than serialising them.
    statement = sa.select(*ATTEMPT_COLUMNS)
    if "state" in args:
        if args["state"] not in STATES:
            raise ApiError(400, {"state": [f"Select a valid choice. {args['state']} is not one of the available "
                                           "choices."]})
        statement = statement.where(Attempt.state == STATES[args["state"]])
    if args.get("date_0"):
        statement = statement.where(Attempt.date >= _moment(args["date_0"], "date_0", end_of_day=False))
    if args.get("date_1"):
        statement = statement.where(Attempt.date <= _moment(args["date_1"], "date_1", end_of_day=True))
    if users := _ids("users"):
        statement = statement.where(Attempt.user_id.in_(users))
    if exams := _ids("exams"):
        statement = statement.where(Attempt.exam_id.in_(exams))

    ordering = args.get("ordering", "")
    column = ORDERING.get(ordering.removeprefix("-"))
    if ordering and column is None:
        raise ApiError(400, {"ordering": [f"Order by one of {', '.join(ORDERING)}, optionally with a leading '-'."]})
    order = [] if column is None else [column.desc() if ordering.startswith("-") else column.asc()]
    # Ties broken by id, so pages never overlap or skip rows.
    statement = statement.order_by(*order, Attempt.id.asc())

    return jsonify(paginated(statement, attempts_json, rows=True))


def attempts_json(attempts: list[sa.Row]) -> list[dict]:
    """A page of attempt rows, with their students' emails and names looked up in one query.

    Not a join in the page's query: SQLite would then join every row the offset skips, and
    every row the count counts, which made the last pages of 100,000 slower than the first.
    """
    user_ids = {attempt.user_id for attempt in attempts}
    users = {user_id: (email, name) for user_id, email, name in db.session.execute(
        sa.select(User.id, User.email, User.first_name).where(User.id.in_(user_ids)))}
    links = f"{base_url()}/api/v2.5/admin"  # asked once per page, not twice per attempt
    return [attempt_json(attempt, *users[attempt.user_id], links) for attempt in attempts]


def attempt_json(attempt: sa.Row, email: str, name: str | None, links: str) -> dict:
    """One attempt row (ATTEMPT_COLUMNS) and its student; `links` starts exam_url and user_url."""
    # Unpacked once: each attribute of a Row is a lookup, and they were most of a page's time.
    (attempt_id, date, exam_id, user_id, state, institute_attempt_id, started_at, last_answer_updated_at,
     completed_at, total_count, correct_answers_count, incorrect_answers_count, unanswered_count,
     score, max_score) = attempt
    completed = state == COMPLETED
    taken = (completed_at or last_answer_updated_at or started_at or date) - (started_at or date)
    return {
        "id": attempt_id,
        "date": iso(date),
        "exam_id": exam_id,
        "user_id": user_id,
        "email": email,
        "name": name or None,
        "phone": None,
        "correct_answers_count": correct_answers_count,
        "incorrect_answers_count": incorrect_answers_count,
        "unanswered_count": unanswered_count,
        "score": marks_text(score),
        # The documented sample shows a bare number here, unlike the webhook's text.
        "percentage": float(percentage_text(score, max_score)),
        "time_taken": clock(taken.total_seconds()),
        "remaining_time": None if completed else clock(0),
        "result": "Not taken" if state == NOT_STARTED else ("Evaluated" if completed else "In progress"),
        "state": state,
        "last_started_time": iso(started_at),
        "last_answer_updated_time": iso(last_answer_updated_at),
        "speed": 0,
        "exam_url": f"{links}/exams/{exam_id}/",
        "user_url": f"{links}/users/{user_id}/",
        "institute_attempt_id": institute_attempt_id,
        "total_count": total_count,
        "max_score": f"{max_score:.2f}",
        "completed_on": iso(completed_at),
    }


def exam_json(exam: Exam) -> dict:
    return {
        "id": exam.id,
        "title": exam.title,
        "slug": exam.slug,
        "url": f"{base_url()}/exams/run/{exam.slug}/start/",
        "duration": exam.duration,
        "start_date": iso(exam.start_date),
        "end_date": iso(exam.end_date),
        "number_of_questions": len(exam.questions),
        "total_marks": f"{exam.max_score:.2f}",
    }


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "email": user.email, "first_name": user.first_name}


@bp.get("/admin/exams/")
def exams():
    """Every exam, with the launch URL an institute pastes as exam_url. 401 without a valid token."""
    return jsonify(paginated(sa.select(Exam).order_by(Exam.id), exam_json))


@bp.get("/admin/exams/<int:exam_id>/")
def exam(exam_id: int):
    """One exam. 401 without a valid token, 404 unknown."""
    found = db.session.get(Exam, exam_id)
    if found is None:
        raise ApiError(404, {"detail": "Not found."})
    return jsonify(exam_json(found))


@bp.get("/admin/users/")
def users():
    """Every user, or the one with ?email= (case-insensitive). 401 without a valid token."""
    statement = sa.select(User).order_by(User.id)
    if email := request.args.get("email", "").strip():
        statement = statement.where(sa.func.lower(User.email) == email.lower())
    return jsonify(paginated(statement, user_json))


@bp.get("/admin/users/<int:user_id>/")
def user(user_id: int):
    """One user. 401 without a valid token, 404 unknown."""
    found = db.session.get(User, user_id)
    if found is None:
        raise ApiError(404, {"detail": "Not found."})
    return jsonify(user_json(found))
