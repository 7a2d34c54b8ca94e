"""The exam report's charts: bins, and labels that never overlap."""

import re
from datetime import date, timedelta

from portal.attempts.gradebook import histogram_bins
from portal.web.charts import CHARACTER_WIDTH, histogram_svg, spaced_labels, timeline_svg


def drawn_labels(svg: str) -> list[tuple[float, str]]:
    return [(float(x), text)
            for x, text in re.findall(r'<text class="axis-label" x="([\d.]+)"[^>]*>([^<]*)</text>', svg)]


def assert_no_overlap(labels):
    edges = [(x - len(text) * CHARACTER_WIDTH / 2, x + len(text) * CHARACTER_WIDTH / 2) for x, text in labels]
    assert all(right < next_left for (_, right), (next_left, _) in zip(edges, edges[1:])), labels


def test_bins_are_tenths_with_100_in_the_last_and_negatives_apart():
    bins = dict(histogram_bins([0, 9.99, 10, 55, 100, 100, -4.17]))
    assert bins["below 0%"] == 1 and bins["0–10%"] == 2 and bins["10–20%"] == 1
    assert bins["50–60%"] == 1 and bins["90–100%"] == 2 and "above 100%" not in bins
    assert "below 0%" not in dict(histogram_bins([50]))


def test_a_label_that_would_overlap_is_left_out():
    kept = spaced_labels([(100, "01 Dec"), (150, "02 Dec"), (200, "03 Dec")])  # 86 units wide each
    assert [text for _, text in kept] == ["01 Dec", "03 Dec"]


def test_the_histograms_labels_never_overlap_even_with_negative_marking():
    svg = str(histogram_svg(histogram_bins([-4.17, 0, 50, 101])))
    labels = drawn_labels(svg)
    assert "<0" in [text for _, text in labels] or "&lt;0" in svg
    assert_no_overlap(labels)
    assert 'role="img"' in svg and "Distribution of 4 counting scores" in svg


def test_a_long_timeline_is_drawn_by_week_with_spaced_dates():
    start = date(2026, 1, 5)
    days = [(start + timedelta(days=n), 1 + n % 3) for n in range(0, 120, 2)]
    svg = str(timeline_svg(days))
    assert svg.count("<rect") == 17  # day 0 to day 118 from a Monday: weeks 0..16
    assert "week of 05 Jan 2026" in svg
    assert_no_overlap(drawn_labels(svg))


def test_a_short_timeline_has_a_bar_for_every_day_between_first_and_last():
    svg = str(timeline_svg([(date(2026, 12, 1), 3), (date(2026, 12, 4), 1)]))
    assert svg.count("<rect") == 4 and "02 Dec 2026: 0" in svg
    assert_no_overlap(drawn_labels(svg))


def test_no_scores_draw_no_chart():
    assert str(histogram_svg(histogram_bins([]))) == "" and str(timeline_svg([])) == ""
