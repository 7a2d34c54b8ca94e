"""Password hashing with argon2id (OWASP's first choice), via argon2-cffi."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so that an unknown email costs as much
    time as a wrong password. Made on first use: hashing takes argon2's 64 MiB, which
    processes that never check a password (the sync, say) need not pay."""
    return _hasher.hash("no such user: equal timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
