"""The server-rendered SVG charts: shares drawn to scale, labels escaped, empty input handled."""

import re

from portal.charts import BAR_WIDTH, LABEL_WIDTH, VALUE_WIDTH, Point, answer_breakdown_svg, percentage_line_svg

TRACK = BAR_WIDTH - LABEL_WIDTH - VALUE_WIDTH


def bar_widths(svg: str) -> dict[str, float]:
    return {name: float(width) for name, width in re.findall(r'class="bar-(\w+)"[^>]* width="([\d.]+)"', svg)}


def test_answer_bars_are_as_wide_as_their_share():
    svg = answer_breakdown_svg(3, 1, 1)

    widths = bar_widths(svg)
    assert widths == {"correct": TRACK * 3 / 5, "incorrect": TRACK / 5, "unanswered": TRACK / 5}
    assert 'aria-label="3 correct, 1 incorrect, 1 unanswered"' in svg


def test_answer_bars_without_any_answers_are_empty_not_an_error():
    assert bar_widths(answer_breakdown_svg(None, None, None)) == {"correct": 0, "incorrect": 0, "unanswered": 0}
    assert bar_widths(answer_breakdown_svg(0, 0, 0)) == {"correct": 0, "incorrect": 0, "unanswered": 0}


def test_no_points_draw_no_chart():
    assert percentage_line_svg([]) == ""


def test_points_run_left_to_right_in_order_and_higher_is_up():
    svg = percentage_line_svg([Point("first", 20.0), Point("second", 90.0), Point("third", 50.0)])

    dots = [(float(x), float(y)) for x, y in re.findall(r'<circle class="dot" cx="([\d.]+)" cy="([\d.]+)"', svg)]
    xs, ys = [x for x, _ in dots], [y for _, y in dots]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert ys[1] < ys[2] < ys[0]  # 90% highest on screen, 20% lowest
    assert re.findall(r"<title>(\w+): ([\d.]+)%</title>", svg) == [("first", "20.0"), ("second", "90.0"),
                                                                   ("third", "50.0")]


def test_a_single_point_sits_in_the_middle():
    svg = percentage_line_svg([Point("only", 75.0)])

    [cx] = re.findall(r'<circle class="dot" cx="([\d.]+)"', svg)
    assert 200 < float(cx) < 440


def test_a_negative_percentage_stretches_the_scale():
    svg = percentage_line_svg([Point("negative marking", -25.0), Point("good", 100.0)])

    assert ">-25%</text>" in svg and ">0%</text>" in svg and ">100%</text>" in svg
    ys = [float(y) for y in re.findall(r'<circle class="dot" cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert all(0 <= y <= 220 for y in ys)


def test_labels_are_escaped():
    svg = percentage_line_svg([Point('<script>alert("x")</script> & co', 50.0)])

    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co: 50.0%" in svg
