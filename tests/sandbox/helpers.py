"""Small builders shared by the sandbox tests."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

from portal.testpress.signing import launch_hmac
from testpress_sandbox.config import DEFAULTS

SURL = "http://127.0.0.1:5000/testpress/return"


def launch_form(**overrides) -> dict[str, str]:
    """A launch form signed as the portal's demo would sign it, now."""
    fields = {
        "email": "asha@example.com",
        "first_name": "Asha",
        "institute_attempt_id": "100101",
        "key": DEFAULTS["PUBLIC_KEY"],
        "time": str(int(time.time())),
        "surl": SURL,
    }
    fields.update({name: value for name, value in overrides.items() if name != "hmac"})
    signed = {name: fields[name] for name in ("email", "first_name", "institute_attempt_id", "key", "time")}
    fields["hmac"] = overrides.get("hmac", launch_hmac(DEFAULTS["SECRET"], **signed))
    return fields


def launch(client, slug="physics-mock-1", **overrides):
    """POST a signed launch; returns the response (303 to the exam page when accepted)."""
    return client.post(f"/exams/run/{slug}/start/", data=launch_form(**overrides))


def take_path(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return urlsplit(response.headers["Location"]).path


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "method": attrs.get("method"), "attrs": attrs,
                               "fields": {}})
        elif tag == "input" and self.forms and attrs.get("type") == "hidden":
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")


def read_forms(html: str) -> list[dict]:
    """Every form on a page: action, method, attributes and hidden fields."""
    reader = _FormReader()
    reader.feed(html)
    return reader.forms


def answer_and_leave(client, take: str, answers: dict[int, int], action: str = "submit") -> dict:
    """Answer on the exam page, press Submit (or Take later) and read the return form sent back."""
    data = {f"q{question}": str(option) for question, option in answers.items()}
    response = client.post(take, data={**data, "action": action})
    assert response.status_code == 303
    page = client.get(urlsplit(response.headers["Location"]).path)
    assert page.status_code == 200
    [form] = read_forms(page.get_data(as_text=True))
    return form
