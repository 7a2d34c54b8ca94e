"""Faults on demand, so the portal's client and webhook code can be tested against a misbehaving Testpress.

Process-wide on purpose: the sandbox runs as its own server, and a test sets a fault over HTTP
(POST /sandbox/faults) before making the portal talk to it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class Faults:
    api_delay: float = 0.0  # seconds every Admin API answer waits
    api_fail_next: int = 0  # the next N Admin API requests answer 500
    api_throttle_next: int = 0  # the next N Admin API requests answer 429
    api_retry_after: int = 1  # the Retry-After seconds sent with a 429
    webhook_duplicate: bool = False  # every webhook is delivered twice
    webhook_delay: float = 0.0  # seconds before each webhook's first try
    webhook_reorder: bool = False  # "started" is held back and sent after "completed"
    pending_results: bool = False  # a submit returns "pending" until staff evaluate it


_lock = threading.Lock()
_faults = Faults()
_token_generation = 0


def current() -> Faults:
    return _faults


def token_generation() -> int:
    """Tokens carry the generation they were issued in; "expire tokens now" moves it on."""
    return _token_generation


def as_json() -> dict:
    return {**asdict(_faults), "token_generation": _token_generation}


def _validated(name: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number, 0 or more")
    if isinstance(default, int) and value != int(value):
        raise ValueError(f"{name} must be a whole number")
    return type(default)(value)


def set_faults(settings: dict) -> dict:
    """Replace every fault with ``settings`` (absent ones go back to none); ``{}`` resets.

    ``"expire_tokens": true`` also makes every token issued so far answer 401.
    Raises ValueError naming an unknown or ill-typed setting.
    """
    global _faults, _token_generation
    settings = dict(settings)
    expire_tokens = settings.pop("expire_tokens", False)
    defaults = {field.name: field.default for field in fields(Faults)}
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
    if not isinstance(expire_tokens, bool):
        raise ValueError("expire_tokens must be true or false")
    chosen = {name: _validated(name, value, defaults[name]) for name, value in settings.items()}
    with _lock:
        _faults = Faults(**chosen)
        if expire_tokens:
            _token_generation += 1
    return as_json()


def reset() -> dict:
    return set_faults({})


def take_api_fault() -> tuple[int, int | None] | None:
    """Use up one planned Admin API failure: (429, retry_after) first, then (500, None)."""
    global _faults
    with _lock:
        if _faults.api_throttle_next:
            _faults = replace(_faults, api_throttle_next=_faults.api_throttle_next - 1)
            return 429, _faults.api_retry_after
        if _faults.api_fail_next:
            _faults = replace(_faults, api_fail_next=_faults.api_fail_next - 1)
            return 500, None
    return None
