"""Throttling counters kept in the portal's own database, shared by every worker and server.

Flask-Limiter keeps its counts in a `limits` storage. Its built-in ones are process memory
(each gunicorn worker counts alone, and a restart forgets) or a separate server (Redis,
Memcached, MongoDB). An institute on one machine has no Redis, but every worker already
shares the database, so this storage, registered for ``portal+sqlalchemy://``, counts there:
one row per limit window in `rate_limits`. It serves the fixed-window strategy, the
limiter's default. Where Redis exists, ``RATELIMIT_STORAGE_URI=redis://...`` replaces it.

The storage reads the current app's engine at each call rather than holding one: the
limiter is one object per process, shared by every app built in it (the tests build many),
so each app's guesses land in that app's own database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from limits.storage import Storage

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import RateLimitCounter

counters = RateLimitCounter.__table__


class DatabaseStorage(Storage):
    """A `limits` storage over the `rate_limits` table, atomic on SQLite and PostgreSQL."""

    STORAGE_SCHEME = ["portal+sqlalchemy"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the key's window, starting a new window if the last one ended.

        One UPDATE ... SET hits = hits + n is atomic in both databases, so concurrent
        workers never lose a guess. A key seen for the first time needs an INSERT; when two
        workers race to insert it, the loser's primary key conflict sends it back to the
        UPDATE, which then finds the winner's row. (Written as update-then-insert rather
        than a dialect's ON CONFLICT so that one statement serves both databases.)
        """
        now = utcnow()
        ends = now + timedelta(seconds=expiry)
        window_over = counters.c.expires_at <= now
        bump = (
            sa.update(counters)
            .where(counters.c.key == key)
            .values(
                hits=sa.case((window_over, amount), else_=counters.c.hits + amount),
                expires_at=sa.case((window_over, ends), else_=counters.c.expires_at),
            )
            .returning(counters.c.hits)
        )
        for _ in range(3):
            with db.engine.begin() as connection:
                hits = connection.scalar(bump)
            if hits is not None:
                return hits
            try:
                with db.engine.begin() as connection:
                    # New keys are rare (one per account or address per window): a good
                    # moment to drop the windows that ended, so the table stays small.
                    connection.execute(sa.delete(counters).where(window_over))
                    connection.execute(sa.insert(counters).values(key=key, hits=amount, expires_at=ends))
                return amount
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError(f"could not count a hit for rate limit key {key!r}")

    def get(self, key: str) -> int:
        with db.engine.connect() as connection:
            hits = connection.scalar(
                sa.select(counters.c.hits).where(counters.c.key == key, counters.c.expires_at > utcnow()))
        return hits or 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends, in epoch seconds (now, for a key with no window)."""
        with db.engine.connect() as connection:
            ends = connection.scalar(sa.select(counters.c.expires_at).where(counters.c.key == key))
        return epoch(ends) if ends is not None else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(sa.select(1))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(sa.delete(counters)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(sa.delete(counters).where(counters.c.key == key))


def epoch(moment: datetime) -> float:
    """A stored naive-UTC time as epoch seconds, as `limits` counts time."""
    return moment.replace(tzinfo=UTC).timestamp()
