"""The server-rendered SVG charts: shares drawn to scale, labels legible and apart, escaped, empty input handled."""

import re
from datetime import date, timedelta

import pytest

from portal.web.charts import (
    BAR_WIDTH,
    CHART_FONT_UNITS,
    CHART_WIDTH,
    LABEL_WIDTH,
    VALUE_WIDTH,
    Point,
    answer_breakdown_svg,
    percentage_line_svg,
)
from tests import CHECKOUT

TRACK = BAR_WIDTH - LABEL_WIDTH - VALUE_WIDTH
DAY = date(2026, 12, 1)


def bar_widths(svg: str) -> dict[str, float]:
    return {name: float(width) for name, width in re.findall(r'class="bar-(\w+)"[^>]* width="([\d.]+)"', svg)}


def test_answer_bars_are_as_wide_as_their_share():
    svg = answer_breakdown_svg(3, 1, 1)

    widths = bar_widths(svg)
    assert widths == {"correct": TRACK * 3 / 5, "incorrect": TRACK / 5, "unanswered": TRACK / 5}
    assert 'aria-label="Answers: 3 correct, 1 incorrect, 1 unanswered"' in svg


def test_answer_bars_without_any_answers_are_empty_not_an_error():
    assert bar_widths(answer_breakdown_svg(None, None, None)) == {"correct": 0, "incorrect": 0, "unanswered": 0}
    assert bar_widths(answer_breakdown_svg(0, 0, 0)) == {"correct": 0, "incorrect": 0, "unanswered": 0}


def test_no_points_draw_no_chart():
    assert percentage_line_svg([]) == ""


def test_points_run_left_to_right_in_order_and_higher_is_up():
    svg = percentage_line_svg([Point("first", 20.0, DAY), Point("second", 90.0, DAY), Point("third", 50.0, DAY)])

    dots = [(float(x), float(y)) for x, y in re.findall(r'<circle class="dot" cx="([\d.]+)" cy="([\d.]+)"', svg)]
    xs, ys = [x for x, _ in dots], [y for _, y in dots]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert ys[1] < ys[2] < ys[0]  # 90% highest on screen, 20% lowest
    assert re.findall(r"<title>(\w+): ([\d.]+)%</title>", svg) == [("first", "20.0"), ("second", "90.0"),
                                                                   ("third", "50.0")]


def test_a_single_point_sits_in_the_middle():
    svg = percentage_line_svg([Point("only", 75.0, DAY)])

    [cx] = re.findall(r'<circle class="dot" cx="([\d.]+)"', svg)
    assert 200 < float(cx) < 440


def test_a_negative_percentage_stretches_the_scale():
    svg = percentage_line_svg([Point("negative marking", -25.0, DAY), Point("good", 100.0, DAY)])

    assert ">-25%</text>" in svg and ">0%</text>" in svg and ">100%</text>" in svg
    ys = [float(y) for y in re.findall(r'<circle class="dot" cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert all(0 <= y <= 260 for y in ys)


def test_a_percentage_testpress_has_not_verified_is_a_hollow_dot_that_says_so_on_hover():
    svg = percentage_line_svg([Point("Physics, 01 Dec 2026", 40.0, DAY),
                               Point("Physics, 02 Dec 2026", 80.0, DAY, verified=False)])

    assert re.findall(r'<circle class="([\w -]+)"', svg) == ["dot", "dot dot-unverified"]
    assert re.findall(r"<circle [^>]*><title>([^<]*)</title>", svg) == [
        "Physics, 01 Dec 2026: 40.0%", "Physics, 02 Dec 2026: 80.0% (Not yet verified by Testpress)"]
    assert "02 Dec 2026: 80.0% (Not yet verified by Testpress)</desc>" in svg  # what a screen reader reads

def test_labels_are_escaped():
    svg = percentage_line_svg([Point('<script>alert("x")</script> & co', 50.0, DAY)])

    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co: 50.0%" in svg


# Label boxes as a browser draws them at the largest size the stylesheet gives chart text
# (a phone's): 0.8 em above the baseline, 0.25 em below, and a generous 0.62 em a character
# (the portal's sans-serif fonts average about 0.55 em). At the desktop size every box is
# smaller around the same anchor, so boxes apart here are apart there too.
ASCENT, DESCENT, CHARACTER = 0.8 * CHART_FONT_UNITS, 0.25 * CHART_FONT_UNITS, 0.62 * CHART_FONT_UNITS
TEXT = re.compile(r'<text x="(?P<x>[-\d.]+)" y="(?P<y>[-\d.]+)"(?: text-anchor="(?P<anchor>\w+)")?>'
                  r'(?P<text>[^<]*)</text>')


def label_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """(text, left, top, right, bottom) of every label drawn."""
    boxes = []
    for match in TEXT.finditer(svg):
        x, y, text = float(match["x"]), float(match["y"]), match["text"]
        width = len(text) * CHARACTER
        left = {"end": x - width, "middle": x - width / 2}.get(match["anchor"], x)
        boxes.append((text, left, y - ASCENT, left + width, y + DESCENT))
    return boxes


def view_box(svg: str) -> tuple[float, float]:
    width, height = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups()
    return float(width), float(height)


def assert_labels_apart_and_inside(svg: str) -> None:
    boxes = label_boxes(svg)
    assert boxes, "no labels drawn"
    width, height = view_box(svg)
    for text, left, top, right, bottom in boxes:
        assert 0 <= left and right <= width and 0 <= top and bottom <= height, f"{text!r} is cut off"
    for index, (text, left, top, right, bottom) in enumerate(boxes):
        for other, other_left, other_top, other_right, other_bottom in boxes[index + 1:]:
            apart = right <= other_left or other_right <= left or bottom <= other_top or other_bottom <= top
            assert apart, f"{text!r} overlaps {other!r}"


@pytest.mark.parametrize("values", [
    [-4.17, 50.0],  # the case that drew "-4.17%" over "0%"
    [-0.5, 0.0, 100.0],
    [-25.0, 100.0],
    [35.0],
    [0.0, 100.0, 100.0, 0.0] * 12,  # fifty points
    [-1000.0, 250.0],  # far outside the usual scale
    [99.9, 100.0, 100.1],
])
def test_progress_labels_never_overlap_and_fit_the_chart(values):
    svg = percentage_line_svg([Point(f"attempt {i}", value, DAY) for i, value in enumerate(values)])

    assert_labels_apart_and_inside(svg)
    scale_labels = [text for text, *_ in label_boxes(svg) if text.endswith("%")]
    assert "0%" in scale_labels  # and the round marks around it, apart
    assert len(scale_labels) == len(set(scale_labels))


def test_the_scale_reaches_past_a_negative_value_to_a_round_mark():
    svg = percentage_line_svg([Point("negative marking", -4.17, DAY), Point("good", 80.0, DAY)])

    scale_labels = [text for text, *_ in label_boxes(svg) if text.endswith("%")]
    assert scale_labels == ["-25%", "0%", "25%", "50%", "75%", "100%"]
    assert "-4.17%" not in svg.split("<desc>")[0]  # only in the text alternative and the dot's title


@pytest.mark.parametrize("counts", [(3, 1, 1), (0, 0, 0), (None, None, None), (9999, 0, 1), (0, 0, 120)])
def test_answer_labels_never_overlap_and_fit_the_chart(counts):
    assert_labels_apart_and_inside(answer_breakdown_svg(*counts))


def test_charts_scale_to_their_card_from_one_width():
    for svg in (answer_breakdown_svg(1, 2, 3), percentage_line_svg([Point("a", 10.0, DAY), Point("b", 20.0, DAY)])):
        assert view_box(svg)[0] == CHART_WIDTH
        assert " width=" not in svg.split(">")[0]  # no fixed size: the stylesheet makes it the card's width


def test_the_stylesheet_draws_chart_text_at_the_size_the_layout_assumes():
    css = (CHECKOUT / "static" / "style.css").read_text()
    phone = css[css.index("@media (max-width: 640px)"):]
    sizes = re.findall(r"\.chart text \{ font-size: (\d+)px", phone)
    assert sizes and int(sizes[0]) == CHART_FONT_UNITS
    # On a 390 px phone a card's content is about 310 px wide: the 640 units shrink to that.
    assert CHART_FONT_UNITS * 310 / CHART_WIDTH >= 11


def test_the_progress_chart_says_what_it_shows():
    svg = percentage_line_svg([Point("Physics, 01 Dec 2026", 35.0, DAY), Point("Physics, 08 Dec 2026", 60.0, DAY)])

    assert ('aria-label="Percentage over 2 completed attempts, oldest first: from 35.0% to 60.0%, '
            'best 60.0%, lowest 35.0%"') in svg
    assert "<desc>Physics, 01 Dec 2026: 35.0%; Physics, 08 Dec 2026: 60.0%</desc>" in svg


def axis_dates(svg: str) -> list[str]:
    return [text for text, *_ in label_boxes(svg) if not text.endswith("%")]


@pytest.mark.parametrize("count", [2, 3, 7, 50])
def test_the_progress_axis_shows_when_the_line_starts_and_ends_and_dates_between_that_fit(count):
    start = date(2026, 3, 1)
    points = [Point(f"attempt {n}", 50.0, start + timedelta(days=3 * n)) for n in range(count)]

    svg = percentage_line_svg(points)

    dates, last = axis_dates(svg), start + timedelta(days=3 * (count - 1))
    assert dates[0] == "1 Mar" and dates[-1] == f"{last.day} {last:%b}"
    assert len(dates) == count if count <= 3 else len(dates) >= 4  # as many as fit between
    assert_labels_apart_and_inside(svg)


def test_the_progress_axis_names_a_day_once_and_the_year_when_the_line_spans_two():
    same_day = percentage_line_svg([Point("a", 10.0, DAY), Point("b", 20.0, DAY)])
    new_year = percentage_line_svg([Point("a", 10.0, date(2026, 12, 30)), Point("b", 20.0, date(2027, 1, 2))])

    assert axis_dates(same_day) == ["1 Dec"]
    assert axis_dates(new_year) == ["30 Dec 2026", "2 Jan 2027"]
    assert_labels_apart_and_inside(new_year)
