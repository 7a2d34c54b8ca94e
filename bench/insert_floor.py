"""The floor under the webhook, for `webhook_bench.py`: a bare Flask-SQLAlchemy app that
stores each POST's body as one row and commits, in a SQLite file in WAL mode with
synchronous=NORMAL (the portal's own settings, portal.core.database).

    gunicorn 'bench.insert_floor:create()'     # the file named by INSERT_FLOOR_DATABASE

Served by the same gunicorn settings as the portal, so that the ratio between the webhook and
this is what the webhook's own work costs, whatever the host's speed that minute. A second
route, /signed, adds what no receiver of Testpress's webhook can skip: the portal's own check
of the body's hash (JSON parsing included), a 400 if it fails. No portal setting, hook or
extension is involved in either.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portal.testpress.signing import WebhookError, verify_webhook


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Received(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]


def create(database: str | None = None, *, public_key: str = "", private_key: str = "") -> Flask:
    """The app, on the SQLite file `database` (else INSERT_FLOOR_DATABASE), its table created
    if missing; /signed verifies with the keys given (else INSERT_FLOOR_PUBLIC_KEY, _PRIVATE_KEY)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database or os.environ['INSERT_FLOOR_DATABASE']}"
    db.init_app(app)
    public_key = public_key or os.environ.get("INSERT_FLOOR_PUBLIC_KEY", "")
    private_key = private_key or os.environ.get("INSERT_FLOOR_PRIVATE_KEY", "")
    with app.app_context():
        sa.event.listen(db.engine, "connect", _tune)
        db.create_all()

    @app.post("/")
    def insert():
        db.session.add(Received(body=request.get_data(as_text=True)))
        db.session.commit()
        return "ok"

    @app.post("/signed")
    def signed():
        body = request.get_data()
        try:
            verify_webhook(body, public_key=public_key, private_key=private_key)
        except WebhookError:
            abort(400)
        db.session.add(Received(body=body.decode()))
        db.session.commit()
        return "ok"

    return app


def _tune(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
