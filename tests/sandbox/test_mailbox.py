"""The sandbox's mail catcher: what arrives over SMTP is listed, newest first, and a message's
page shows its text with its links clickable."""

import smtplib
from email.message import EmailMessage

import pytest

from testpress_sandbox import create_app
from testpress_sandbox.mailbox import mailbox
from tests.conftest import free_port


@pytest.fixture
def catcher(tmp_path):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "sandbox.sqlite"), "WEBHOOK_URL": ""})
    port = free_port()
    mailbox(app).start_smtp("127.0.0.1", port)
    yield app, port
    mailbox(app).stop()


def send(port, subject, text):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "portal@demo.invalid", "asha@example.com", subject
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(message)


def test_received_messages_are_listed_and_shown_with_their_links(catcher):
    app, port = catcher
    client = app.test_client()
    assert "Nothing yet" in client.get("/sandbox/mail/").get_data(as_text=True)

    send(port, "First", "hello")
    send(port, "Choose your password", "Open http://127.0.0.1:5000/password/abc?x=1&y=<2> now.")

    listing = client.get("/sandbox/mail/").get_data(as_text=True)
    assert listing.index("Choose your password") < listing.index("First")
    page = client.get("/sandbox/mail/2").get_data(as_text=True)
    assert '<a href="http://127.0.0.1:5000/password/abc?x=1&amp;y=">http://127.0.0.1:5000/password/abc?x=1&amp;y=</a>' \
        in page
    assert "&lt;2&gt; now." in page
    assert client.get("/sandbox/mail/9").status_code == 404
