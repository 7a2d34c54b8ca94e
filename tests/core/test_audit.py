"""The audit log's words: every action the portal records has a staff label (issue 25)."""

import re
from pathlib import Path

from portal.core import audit
from portal.vocabulary import FlagResolution

PORTAL = Path(audit.__file__).resolve().parents[1]
RECORDED = re.compile(r'audit\.record\([^,]+, (?:"([a-z_.]+)" if [^,]+ else "([a-z_.]+)"|"([a-z_.]+)")')


def test_every_action_recorded_has_staff_words():
    recorded = {name for path in PORTAL.rglob("*.py")
                for found in RECORDED.findall(path.read_text()) for name in found if name}
    recorded |= {f"flag.{resolution}" for resolution in FlagResolution}  # written as f"flag.{resolution}"
    assert len(recorded) > 25
    assert recorded - set(audit.ACTIONS) == set()
    assert all(not re.search(r"[._]", label) for label in audit.ACTIONS.values())
