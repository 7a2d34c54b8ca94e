"""TLS to the mail server, against aiosmtpd with a throwaway certificate: STARTTLS (port 587's
way) and TLS from the start (465's), and a certificate the portal does not trust refused."""

import shutil
import ssl
import subprocess

import pytest

from portal.core.extensions import db
from portal.mail import outbox, transport
from portal.mail.messages import letter
from portal.vocabulary import MailKind

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def server_tls(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trusted(certificate, monkeypatch):
    """The portal trusting the throwaway certificate, as it trusts a real server's CA."""
    monkeypatch.setattr(transport, "tls_context", lambda: ssl.create_default_context(cafile=str(certificate[0])))


def send_one(app):
    with app.app_context():
        outbox.queue(MailKind.TEST, letter("test", "Test message"), to="asha@example.com", key="tls:1")
        db.session.commit()
        return outbox.send_due()


def test_starttls_delivers_over_tls(make_app, mail_catcher, server_tls, trusted):
    mail_catcher.use_tls(server_tls)
    assert send_one(make_app(**mail_catcher.settings, MAIL_USE_TLS=True)).sent == 1
    assert mail_catcher.secure == [True]


def test_tls_from_the_start_delivers_over_tls(make_app, mail_catcher, server_tls, trusted):
    mail_catcher.use_tls(server_tls, implicit=True)
    assert send_one(make_app(**mail_catcher.settings, MAIL_USE_SSL=True)).sent == 1
    assert mail_catcher.secure == [True]


def test_a_certificate_not_trusted_is_a_tls_failure_and_nothing_is_sent(make_app, mail_catcher, server_tls):
    mail_catcher.use_tls(server_tls)
    app = make_app(**mail_catcher.settings, MAIL_USE_TLS=True)
    assert send_one(app).retrying == 1
    result = app.test_cli_runner().invoke(args=["mail", "test", "asha@example.com"])
    assert result.exit_code == 1 and "FAILED   TLS: " in result.output and "CERTIFICATE_VERIFY_FAILED" in result.output
    assert mail_catcher.received == []
