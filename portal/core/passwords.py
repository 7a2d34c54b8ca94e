"""Password hashing with argon2id (OWASP's first choice), via argon2-cffi."""

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# OWASP's minimum argon2id parameters (19 MiB, 2 passes, 1 lane): a CSV import hashes
# hundreds of passwords in one request, which the full profile (64 MiB, 3 passes, ~50-170 ms
# each here) cannot do within gunicorn's 30 s. needs_rehash reports these hashes, so the
# login upgrades each to the full profile the first time its person logs in.
_import_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# The start of a stored hash that no password matches: a person imported without a password,
# who sets one through a one-time link. Not an argon2 hash, so argon2 can never verify it.
UNUSABLE_PREFIX = "!"


@cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so that an unknown email costs as much
    time as a wrong password. Made on first use: hashing takes argon2's 64 MiB, which
    processes that never check a password (the sync, say) need not pay."""
    return _hasher.hash("no such user: equal timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_imported_passwords(passwords: Sequence[str]) -> list[str]:
    """Hashes of `passwords`, in order, with the import profile, across the CPU cores
    (argon2-cffi releases the GIL while it hashes, so threads run in parallel)."""
    if not passwords:
        return []
    with ThreadPoolExecutor(max_workers=min(len(passwords), os.cpu_count() or 1)) as pool:
        return list(pool.map(_import_hasher.hash, passwords, chunksize=16))


def unusable_password_hash() -> str:
    """A stored hash that no password opens (random, so no two accounts share one)."""
    return UNUSABLE_PREFIX + secrets.token_hex(16)


def check_password(password_hash: str | None, password: str) -> bool:
    usable = password_hash is not None and not password_hash.startswith(UNUSABLE_PREFIX)
    try:
        # An account without a usable password costs as much time as a wrong password.
        return _hasher.verify(password_hash if usable else _dummy_hash(), password) and usable
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
