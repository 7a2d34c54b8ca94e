"""`flask --app portal mail test ADDRESS`: one message now, and which step failed."""

from tests.conftest import free_port


def mail_test(app, address="asha@example.com"):
    return app.test_cli_runner().invoke(args=["mail", "test", address])


def test_a_test_message_is_sent_now(mail_app, mail_catcher):
    result = mail_test(mail_app)
    assert result.exit_code == 0, result.output
    assert f"ok       settings: 127.0.0.1:{mail_catcher.port}, TLS none, login none" in result.output
    assert "ok       message: the server took a test message to asha@example.com" in result.output
    assert [message["Subject"] for message in mail_catcher.received] == ["Exam portal: Test message"]


def test_no_mail_server_says_so(app):
    result = mail_test(app)
    assert result.exit_code == 1 and "FAILED   settings: MAIL_SERVER is not set" in result.output


def test_a_bad_address_is_named(mail_app):
    result = mail_test(mail_app, "asha at example")
    assert result.exit_code == 1 and "FAILED   address: “asha at example” is not an email address" in result.output


def test_a_server_not_listening_names_the_port_settings(make_app, mail_catcher):
    app = make_app(**{**mail_catcher.settings, "MAIL_PORT": free_port()})
    result = mail_test(app)
    assert result.exit_code == 1
    assert "FAILED   connection:" in result.output and "connection refused" in result.output
    assert "check MAIL_SERVER and MAIL_PORT" in result.output


def test_starttls_the_server_does_not_offer_is_a_tls_failure(make_app, mail_catcher):
    result = mail_test(make_app(**mail_catcher.settings, MAIL_USE_TLS=True))
    assert result.exit_code == 1 and "FAILED   TLS: " in result.output and "check MAIL_USE_TLS" in result.output


def test_ssl_to_a_plain_server_is_a_tls_failure(make_app, mail_catcher):
    result = mail_test(make_app(**mail_catcher.settings, MAIL_USE_SSL=True))
    assert result.exit_code == 1 and "FAILED   TLS: " in result.output, result.output


def test_a_refused_login_names_the_login_settings_not_the_password(make_app, mail_catcher):
    mail_catcher.require_login("portal", "right-pa55")
    result = mail_test(make_app(**{**mail_catcher.settings, "MAIL_PASSWORD": "wrong-pa55"}))
    assert result.exit_code == 1
    assert "FAILED   login: " in result.output and "535" in result.output and "MAIL_USERNAME" in result.output
    assert "pa55" not in result.output


def test_a_refused_recipient_gives_the_servers_answer(mail_app, mail_catcher):
    mail_catcher.refused.add("gone@example.com")
    result = mail_test(mail_app, "gone@example.com")
    assert result.exit_code == 1 and "FAILED   message: 550 5.1.1 No such user here" in result.output
