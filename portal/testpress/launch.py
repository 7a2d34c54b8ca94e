"""The launch form: the signed fields Testpress's exam_url expects (CONTRACT.md section 1).
Recording the launch itself is portal.attempts.launching's.
"""

from __future__ import annotations

from portal.models import Attempt
from portal.testpress.settings import TestpressSettings
from portal.testpress.signing import launch_hmac


def launch_fields(attempt: Attempt, surl: str, settings: TestpressSettings) -> dict[str, str]:
    """The signed form fields Testpress's exam_url expects, in the documented order."""
    signed = {
        "email": attempt.student.email,
        # The portal keeps one name field, so Testpress's first_name carries the full name.
        "first_name": attempt.student.name,
        "institute_attempt_id": str(attempt.institute_attempt_id),
        "key": settings.public_key,
        "time": str(attempt.launch_time),
    }
    signature = launch_hmac(settings.secret, **signed, encoding=settings.encoding)
    return {**signed, "hmac": signature, "surl": surl}
