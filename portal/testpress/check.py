"""The integration check, for the day an institute connects its real Testpress.

`run_checks()` answers one finding per concern, each saying what is wrong and which setting
to change: the Admin API login, this server's clock against Testpress's, the exams' URLs,
the signing code against the golden vectors, and the webhooks received. It only reads
(one Admin API login, a few local queries) and writes nothing, so staff can run it at any
time: `flask --app portal testpress check` and the staff page /admin/testpress/check both
show its findings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Exam, WebhookDelivery
from portal.testpress import signing
from portal.testpress.client import REFUSED_CREDENTIALS, TestpressClient, TestpressError
from portal.testpress.settings import TestpressSettings, testpress_settings

# A copy of tests/vectors.json inside the package, so that an installed portal can test
# itself (tests/ is not installed); a test keeps the two identical.
VECTORS_PATH = Path(__file__).with_name("vectors.json")
# CONTRACT.md's reading of "percentage encode the values": the vectors signed this way are
# what Testpress is taken to sign.
CONTRACT_ENCODING = "quote"
# A launch signature lives TESTPRESS_LAUNCH_TTL seconds from the portal's clock: a little
# skew is harmless, a large fraction of the TTL makes launches fail.
CLOCK_WARNING_SECONDS = 120
CLOCK_FAILURE_FRACTION = 0.5
RECENT = timedelta(days=1)

# How a webhook's refusal (WebhookDelivery.reason, from portal.testpress.signing) reads,
# and the setting that usually causes it.
VERIFICATION_FAULTS = (
    ("key is not this institute", "TESTPRESS_PUBLIC_KEY does not match the key Testpress sends: "
                                  "copy the public key again from Testpress's dashboard"),
    ("hash does not match", "the hashes do not verify: TESTPRESS_PRIVATE_KEY is most likely wrong "
                            "(copy the webhook private key from Testpress's dashboard; unset, it "
                            "is TESTPRESS_SECRET), else TESTPRESS_PERCENT_ENCODING"),
    ("hash is ", "the hashes have an unexpected length: add the digest Testpress uses "
                 "to TESTPRESS_WEBHOOK_ALGORITHMS (sha512,sha256)"),
    ("missing hash", "the deliveries carry no hash: check the webhook settings on Testpress's dashboard"),
)


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILURE = "failure"

    @property
    def label(self) -> str:
        return {"ok": "ok", "warning": "WARNING", "failure": "FAILED"}[self.value]


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    message: str

    def line(self) -> str:
        return f"{self.level.label:<8} {self.topic}: {self.message}"


@dataclass(frozen=True)
class CheckReport:
    findings: list[Finding]

    @property
    def failed(self) -> bool:
        return any(finding.level is Level.FAILURE for finding in self.findings)


def run_checks(settings: TestpressSettings | None = None) -> CheckReport:
    """Every check, in the order an operator fixes things. Needs an app context."""
    settings = settings or testpress_settings()
    return CheckReport([
        *check_admin_api(settings),
        check_exam_urls(settings),
        *check_exam_ids(),
        check_signing(settings),
        *check_webhooks(),
    ])


# -- the Admin API and the clock ------------------------------------------------------------

NOT_COMPARED = Finding(Level.WARNING, "Clock", "not compared: the Admin API could not be reached.")


def check_admin_api(settings: TestpressSettings) -> list[Finding]:
    """Log in with the configured account; compare the clocks with Testpress's Date header."""
    unset = [name for name, value in (("TESTPRESS_BASE_URL", settings.base_url),
                                      ("TESTPRESS_API_USERNAME", settings.api_username),
                                      ("TESTPRESS_API_PASSWORD", settings.api_password)) if not value]
    if unset:
        return [Finding(Level.FAILURE, "Admin API", f"{', '.join(unset)} not set: set them to your Testpress "
                                                    "site and an admin account of it (see README, Configuration)."),
                NOT_COMPARED]
    try:
        # One retry only: an operator waiting at a prompt wants the answer, not a long backoff.
        response = TestpressClient.from_settings(settings, max_retries=1).log_in()
    except TestpressError as error:
        if str(error).startswith(REFUSED_CREDENTIALS):
            advice = ("set TESTPRESS_API_USERNAME and TESTPRESS_API_PASSWORD to an admin account "
                      "of your Testpress site")
        else:
            advice = f"check TESTPRESS_BASE_URL ({settings.base_url}) and that this server can reach it"
        return [Finding(Level.FAILURE, "Admin API", f"{error}: {advice}."), NOT_COMPARED]
    login = Finding(Level.OK, "Admin API", f"logged in to {settings.base_url} as {settings.api_username}.")
    return [login, check_clock(response.headers.get("Date"), settings)]


def check_clock(date_header: str | None, settings: TestpressSettings) -> Finding:
    """This server's clock against the Date of Testpress's answer."""
    try:
        theirs = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        theirs = None
    if theirs is None:
        return Finding(Level.WARNING, "Clock", "Testpress answered without a readable Date header, so the "
                                               "clocks cannot be compared: make sure this server keeps time "
                                               "with NTP (e.g. `timedatectl set-ntp true`).")
    if theirs.tzinfo is not None:
        theirs = theirs.astimezone(UTC).replace(tzinfo=None)
    skew = (utcnow() - theirs).total_seconds()
    # Date has whole seconds only: beyond the warning threshold, minutes say it honestly.
    size = f"{abs(skew):.0f} seconds" if abs(skew) < CLOCK_WARNING_SECONDS else f"about {abs(skew) / 60:.0f} minutes"
    ahead = f"{size} {'ahead of' if skew > 0 else 'behind'} Testpress's"
    if abs(skew) > settings.launch_ttl * CLOCK_FAILURE_FRACTION:
        return Finding(Level.FAILURE, "Clock", f"this server's clock is {ahead}; a launch signature lives "
                                               f"{settings.launch_ttl // 60} minutes, so launches will fail: "
                                               "set the clock right and keep it so with NTP "
                                               "(e.g. `timedatectl set-ntp true`).")
    if abs(skew) > CLOCK_WARNING_SECONDS:
        return Finding(Level.WARNING, "Clock", f"this server's clock is {ahead}: launches still work, but "
                                               "turn on NTP (e.g. `timedatectl set-ntp true`) before it drifts "
                                               "further.")
    within = "a second" if abs(skew) < 2 else f"{abs(skew):.0f} seconds"
    return Finding(Level.OK, "Clock", f"within {within} of Testpress's.")


# -- exams ----------------------------------------------------------------------------------


def check_exam_urls(settings: TestpressSettings) -> Finding:
    """Every exam must launch on TESTPRESS_BASE_URL's host: another host never gets our signature right."""
    host = urlsplit(settings.base_url).netloc.lower()
    if not host:
        return Finding(Level.FAILURE, "Exam URLs", "TESTPRESS_BASE_URL is not set: set it to your Testpress "
                                                   "site, e.g. https://myinstitute.testpress.in.")
    exams = db.session.execute(sa.select(Exam.id, Exam.title, Exam.exam_url).order_by(Exam.id)).all()
    elsewhere = [exam for exam in exams if urlsplit(exam.exam_url).netloc.lower() != host]
    if elsewhere:
        listed = "; ".join(f"“{exam.title}” (exam {exam.id}) is on {urlsplit(exam.exam_url).netloc or '?'}"
                           for exam in elsewhere[:5])
        more = f" and {len(elsewhere) - 5} more" if len(elsewhere) > 5 else ""
        return Finding(Level.FAILURE, "Exam URLs", f"{listed}{more}, not on {host} (TESTPRESS_BASE_URL): "
                                                   "copy each exam's URL again from Testpress's exam list "
                                                   "(Exams, Edit), or correct TESTPRESS_BASE_URL.")
    if not exams:
        return Finding(Level.WARNING, "Exam URLs", "no exams yet: add one under Exams, with its URL from "
                                                   "Testpress's exam list.")
    return Finding(Level.OK, "Exam URLs", f"all {len(exams)} exam(s) launch on {host}.")


def check_exam_ids() -> list[Finding]:
    """An exam without its Testpress id: webhooks and the Admin API's reports of it match no
    exam (they are kept as unmatched) until a sync learns the id from its URL or staff type it.
    Said only when there is one, so that a healthy report is unchanged."""
    missing = db.session.execute(sa.select(Exam.id, Exam.title).where(Exam.testpress_id.is_(None))
                                 .order_by(Exam.id)).all()
    if not missing:
        return []
    listed = "; ".join(f"“{exam.title}” (exam {exam.id})" for exam in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    verb = "has" if len(missing) == 1 else "have"
    return [Finding(Level.WARNING, "Exam ids", f"{listed}{more} {verb} no Testpress exam id, so Testpress's reports "
                                               "of it match no exam: the next sync learns it from the exam's URL "
                                               "when Testpress lists an exam there; else type it on the exam's Edit "
                                               "page (Testpress's exam list shows it).")]


# -- signing --------------------------------------------------------------------------------


def golden_vectors() -> list[tuple[str, dict]]:
    """(kind, vector) for each golden vector: launch, review and webhook."""
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return [(kind, vector) for kind in ("launch", "review", "webhook") for vector in vectors[kind]]


def sign_vector(kind: str, vector: dict, encoding: str) -> str:
    """The digest this installation's signing code makes of a vector's values."""
    if kind == "launch":
        return signing.launch_hmac(vector["secret"], **vector["fields"], encoding=encoding)
    if kind == "review":
        fields = dict(vector["fields"])
        fields["attempt_id"] = fields.pop("id")
        return signing.review_hmac(vector["secret"], **fields, encoding=encoding)
    payload = signing.parse_webhook_body(vector["body"])
    values = {name: payload[name] for name in signing.WEBHOOK_SIGNED_FIELDS}
    return signing.webhook_hash(values, vector["private_key"], algorithm=vector["algorithm"], encoding=encoding)


def check_signing(settings: TestpressSettings) -> Finding:
    """The signing code reproduces every golden vector, and the configured encoding signs as Testpress does."""
    vectors = golden_vectors()
    broken = [f"{kind} “{vector['name']}”" for kind, vector in vectors
              if sign_vector(kind, vector, vector["encoding"]) != vector["digest"]]
    if broken:
        return Finding(Level.FAILURE, "Signing", f"this installation's signing code does not reproduce the golden "
                                                 f"vector(s) {', '.join(broken)}: portal/testpress/signing.py has "
                                                 "been changed or damaged; reinstall the portal.")
    if settings.encoding != CONTRACT_ENCODING:
        differ = [f"{kind} “{vector['name']}”" for kind, vector in vectors
                  if vector["encoding"] == CONTRACT_ENCODING
                  and sign_vector(kind, vector, settings.encoding) != vector["digest"]]
        if differ:
            return Finding(Level.WARNING, "Signing", f"TESTPRESS_PERCENT_ENCODING is {settings.encoding}, but "
                                                     f"Testpress's signatures, as CONTRACT.md reads its docs, use "
                                                     f"{CONTRACT_ENCODING}: {len(differ)} golden vector(s) sign "
                                                     f"differently this way ({', '.join(differ[:3])}), so launches "
                                                     "and webhooks with such values will not verify. Set "
                                                     f"TESTPRESS_PERCENT_ENCODING={CONTRACT_ENCODING} unless "
                                                     f"Testpress has told you it encodes with {settings.encoding}.")
    return Finding(Level.OK, "Signing", f"all {len(vectors)} golden vectors reproduce; signing with "
                                        f"{settings.encoding}.")


# -- webhooks -------------------------------------------------------------------------------


def check_webhooks() -> list[Finding]:
    """When the last webhook arrived, and how many of the last day's failed verification."""
    last = db.session.scalar(sa.select(WebhookDelivery).order_by(WebhookDelivery.received_at.desc()).limit(1))
    if last is None:
        return [Finding(Level.WARNING, "Webhooks", "no webhook has ever arrived: in Testpress's webhook "
                                                   "settings enter https://<this portal>/testpress/webhook, make "
                                                   "sure Testpress can reach it, then take an exam to try it.")]
    findings = [Finding(Level.OK, "Webhooks",
                        f"the last arrived {moment(last.received_at)} "
                        f"({'verified' if last.verified else 'refused: ' + (last.reason or '')}).")]

    since = utcnow() - RECENT
    day = db.session.execute(
        sa.select(WebhookDelivery.reason, sa.func.count())
        .where(WebhookDelivery.received_at >= since, WebhookDelivery.verified.is_(False))
        .group_by(WebhookDelivery.reason)).all()
    total = db.session.scalar(sa.select(sa.func.count()).where(WebhookDelivery.received_at >= since))
    for start, advice in VERIFICATION_FAULTS:
        failed = sum(count for reason, count in day if (reason or "").startswith(start))
        if failed:
            findings.append(Finding(Level.FAILURE, "Webhook verification",
                                    f"{failed} of the last day's {total} deliveries failed verification: {advice}."))
    if len(findings) == 1:
        findings.append(Finding(Level.OK, "Webhook verification",
                                f"none of the last day's {total} deliveries failed verification."))
    return findings


def moment(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")
