"""The filters every template may use."""

from datetime import datetime, timedelta

import pytest
from flask import render_template_string

from portal.web.formatting import ago

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


def test_times_are_shown_in_the_institutes_zone_which_is_named(make_app):
    app = make_app(TIMEZONE="Asia/Kolkata")
    with app.test_request_context("/login"):
        shown = render_template_string("{{ moment | when }}", moment=NOW)
    assert "01 Dec 2026, 14:30 IST" in shown and 'datetime="2026-12-01T09:00:00Z"' in shown


def test_a_time_entered_in_the_institutes_zone_is_stored_in_utc(make_app):
    from portal.core.clock import from_local

    with make_app(TIMEZONE="Asia/Kolkata").app_context():
        assert from_local(datetime(2026, 12, 1, 14, 30)) == NOW


def test_an_unknown_zone_stops_the_start_with_one_line(make_app):
    from portal.core.clock import UnknownTimezone

    with pytest.raises(UnknownTimezone, match="Asia/Kolkatta"):
        make_app(TIMEZONE="Asia/Kolkatta")
