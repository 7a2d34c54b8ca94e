"""The filters every template may use."""

from datetime import datetime, timedelta

import pytest
from flask import render_template_string

from portal.formatting import ago

NOW = datetime(2026, 12, 1, 9, 0)


@pytest.mark.parametrize("before, said", [
    (timedelta(seconds=59), "just now"),
    (timedelta(seconds=60), "1 minute ago"),
    (timedelta(minutes=59, seconds=59), "59 minutes ago"),
    (timedelta(hours=1), "1 hour ago"),
    (timedelta(hours=23, minutes=59), "23 hours ago"),
    (timedelta(hours=47), "1 day ago"),
    (timedelta(days=2, hours=5), "2 days ago"),
])
def test_ago_says_how_long_ago_in_the_largest_whole_unit(before, said):
    assert ago(NOW - before, now=NOW) == said


def test_ago_of_nothing_is_never():
    assert ago(None) == "never"


def test_the_filters_belong_to_the_app_not_to_a_blueprint(app):
    with app.test_request_context("/login"):  # a page outside the staff blueprint
        assert render_template_string("{{ moment | ago }}", moment=None) == "never"
