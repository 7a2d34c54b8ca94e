"""Small server-rendered SVG charts: no JavaScript, no library, every label escaped.

Pure functions, values in and markup out, so they test without an app. The markup uses
the `.chart` classes of static/style.css for its colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from portal.vocabulary import UNVERIFIED

# Every chart is 640 user units wide (its viewBox) and drawn as wide as its card
# (static/style.css: .chart). Its text is 14 units on a wide screen and 24 on a phone, where
# the card is about 310 CSS px wide: 24 units are then about 11.5 CSS px. Labels are laid out
# for the larger size, so they are apart at both; tests/web/test_charts.py checks it from the
# positions drawn, and that the stylesheet's phone size is this one.
CHART_WIDTH = 640
CHART_FONT_UNITS = 24
# The widths laid out for a label: about 0.6 em a character in the portal's sans-serif fonts,
# digits and lowercase narrower; tests/web/test_charts.py measures boxes with the same figure.
CHARACTER_WIDTH = 0.6 * CHART_FONT_UNITS

BAR_WIDTH = CHART_WIDTH
BAR_HEIGHT = 28
BAR_GAP = 14
LABEL_WIDTH = 160  # "Unanswered" at 24 units, and a gap
VALUE_WIDTH = 72  # a count of up to four digits after its bar

LINE_WIDTH = CHART_WIDTH
LINE_HEIGHT = 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 100, 16, 18, 50
MIN_TICK_GAP = 1.5 * CHART_FONT_UNITS  # between two scale labels, so that they never touch
TICK_STEPS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def _number(value: float) -> str:
    """Coordinates to two decimals: exact enough for a screen, stable for tests."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def answer_breakdown_svg(correct: int | None, incorrect: int | None, unanswered: int | None) -> Markup:
    """Three horizontal bars (correct, incorrect, unanswered), each as wide as its share.

    Missing counts draw as zero; with no answers at all the bars are empty but present,
    so the page keeps its shape. Its text alternative is the counts, as a sentence.
    """
    rows = [("Correct", "correct", correct or 0), ("Incorrect", "incorrect", incorrect or 0),
            ("Unanswered", "unanswered", unanswered or 0)]
    total = sum(count for _, _, count in rows)
    track = BAR_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(rows) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    summary = "Answers: " + ", ".join(f"{count} {label.lower()}" for label, _, count in rows)
    parts = [
        f'<svg class="chart chart-answers" viewBox="0 0 {BAR_WIDTH} {height}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    for index, (label, css, count) in enumerate(rows):
        y = index * (BAR_HEIGHT + BAR_GAP)
        width = track * count / total if total else 0
        # The baseline a third of an em below the bar's middle centres the text on the bar.
        middle = _number(y + BAR_HEIGHT / 2 + CHART_FONT_UNITS / 3)
        parts.append(f'<text x="0" y="{middle}">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar-{css}" x="{LABEL_WIDTH}" y="{y}" width="{_number(width)}" '
            f'height="{BAR_HEIGHT}" rx="3"></rect>'
        )
        parts.append(f'<text x="{_number(LABEL_WIDTH + width + 8)}" y="{middle}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def scale(low_value: float, high_value: float, plot_height: float) -> tuple[float, float, list[float]]:
    """The percentage scale (low, high, the marks to label) covering 0 to 100 and the values.

    The marks are multiples of the smallest step that keeps neighbouring labels
    MIN_TICK_GAP apart, and the ends are marks too: a value of -4.17% gives a scale from
    -25%, never a "-4.17%" drawn over "0%".
    """
    for step in TICK_STEPS:
        low = min(0.0, math.floor(low_value / step) * step)
        high = max(100.0, math.ceil(high_value / step) * step)
        if plot_height * step / (high - low) >= MIN_TICK_GAP:
            break
    marks = [low + step * index for index in range(round((high - low) / step) + 1)]
    return low, high, marks


@dataclass(frozen=True)
class Point:
    """One completed attempt on the percentage-over-time chart."""

    label: str  # shown on hover: the exam and the date
    percentage: float
    day: date  # the institute's date of the attempt, for the axis
    # False for a percentage only the browser return reported: the student's to edit, so its
    # dot is hollow and its hover says so in the results page's words.
    verified: bool = True

    @property
    def hover(self) -> str:
        said = f"{self.label}: {self.percentage:.1f}%"
        return said if self.verified else f"{said} ({UNVERIFIED})"


def percentage_line_svg(points: Sequence[Point]) -> Markup:
    """A line of percentages in the order given (oldest first), with gridlines at 0, 50 and 100.

    The scale runs from 0 to 100 unless a value falls outside (negative marking can
    give a negative percentage), in which case it stretches to include it. Answers
    empty markup for no points: the page then shows no chart at all.
    """
    if not points:
        return Markup("")
    values = [point.percentage for point in points]
    plot_width = LINE_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = LINE_HEIGHT - PAD_TOP - PAD_BOTTOM
    low, high, marks = scale(min(values), max(values), plot_height)

    def x(index: int) -> float:
        # A single point sits in the middle rather than on the axis.
        return PAD_LEFT + (plot_width * index / (len(points) - 1) if len(points) > 1 else plot_width / 2)

    def y(value: float) -> float:
        return PAD_TOP + plot_height * (high - value) / (high - low)

    summary = progress_summary(values)
    parts = [
        f'<svg class="chart chart-progress" viewBox="0 0 {LINE_WIDTH} {LINE_HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
        "<desc>{}</desc>".format(escape("; ".join(point.hover for point in points))),
    ]
    for mark in marks:
        level = _number(y(mark))
        parts.append(f'<line class="grid-line" x1="{PAD_LEFT}" x2="{LINE_WIDTH - PAD_RIGHT}" '
                     f'y1="{level}" y2="{level}"></line>')
        parts.append(f'<text x="{PAD_LEFT - 10}" y="{_number(y(mark) + CHART_FONT_UNITS / 3)}" '
                     f'text-anchor="end">{_number(mark)}%</text>')
    coordinates = [(_number(x(i)), _number(y(p.percentage))) for i, p in enumerate(points)]
    path = " ".join(f"{cx},{cy}" for cx, cy in coordinates)
    parts.append(f'<polyline class="line" points="{path}"></polyline>')
    for (cx, cy), point in zip(coordinates, points):
        parts.append(
            f'<circle class="dot{"" if point.verified else " dot-unverified"}" cx="{cx}" cy="{cy}" r="6">'
            f"<title>{escape(point.hover)}</title></circle>"
        )
    for centre, text in date_labels([(x(i), point.day) for i, point in enumerate(points)]):
        parts.append(f'<text x="{_number(centre)}" y="{LINE_HEIGHT - 8}" text-anchor="middle">{text}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def date_labels(days: Sequence[tuple[float, date]]) -> list[tuple[float, str]]:
    """The axis's dates under their points (x, day), as many as fit apart: always the first
    and the last, so a student sees when the line starts and ends, and a day only once. The
    year is shown when the points span more than one. Each label is kept inside the chart."""
    with_year = len({day.year for _, day in days}) > 1
    labels, previous = [], None
    for centre, day in days:
        text = f"{day.day} {day:%b}" + (f" {day.year}" if with_year else "")
        if text != previous:
            half = text_width(text) / 2 + LABEL_GAP
            labels.append((min(max(centre, half), LINE_WIDTH - half), text))
            previous = text
    if len(labels) == 1:
        return labels
    kept, last = spaced_labels(labels[:-1]), labels[-1]
    while len(kept) > 1 and _touch(kept[-1], last):
        kept.pop()  # the last day wins over those it would touch, but not over the first
    return [*kept, last]


def _touch(left: tuple[float, str], right: tuple[float, str]) -> bool:
    return left[0] + text_width(left[1]) / 2 + LABEL_GAP > right[0] - text_width(right[1]) / 2


def progress_summary(values: Sequence[float]) -> str:
    """The chart in one sentence, its text alternative: how many, first and latest, best."""
    count = len(values)
    noun = "attempt" if count == 1 else "attempts"
    if count == 1:
        return f"Percentage of 1 completed {noun}: {values[0]:.1f}%"
    return (f"Percentage over {count} completed {noun}, oldest first: from {values[0]:.1f}% "
            f"to {values[-1]:.1f}%, best {max(values):.1f}%, lowest {min(values):.1f}%")


# Bar charts for the exam report, on the same scale as the charts above (their labels laid
# out for CHART_FONT_UNITS), and labelled without overlaps.
COMPACT_WIDTH = CHART_WIDTH
COMPACT_HEIGHT = 320
COMPACT_LEFT, COMPACT_RIGHT, COMPACT_TOP, COMPACT_BOTTOM = 80, 16, 34, 48
LABEL_GAP = CHART_FONT_UNITS / 3
TIMELINE_DAYS = 62
MIN_SLOTS = 7


def text_width(text: str) -> float:
    return len(text) * CHARACTER_WIDTH


def spaced_labels(labels: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """Of (centre x, text) in order of x, those that fit without touching the one before:
    a label that would overlap is left out (the chart's table gives every value)."""
    kept, right_edge = [], float("-inf")
    for centre, text in labels:
        left = centre - text_width(text) / 2
        if left >= right_edge + LABEL_GAP:
            kept.append((centre, text))
            right_edge = centre + text_width(text) / 2
    return kept


def bar_chart_svg(bars: Sequence[tuple[str, int]], axis_labels: Sequence[tuple[float, str]], *,
                  summary: str, css: str) -> Markup:
    """Vertical bars of counts, in order, with `axis_labels` under them.

    `axis_labels` are (position, text) with position in bars: 0 is the left edge of the
    first bar, 0.5 its middle, len(bars) the right edge of the last.
    """
    plot_width = COMPACT_WIDTH - COMPACT_LEFT - COMPACT_RIGHT
    plot_height = COMPACT_HEIGHT - COMPACT_TOP - COMPACT_BOTTOM
    highest = max((count for _, count in bars), default=0)
    # A slot is never wider than a seventh of the plot: one day's completions are a bar, not a
    # block across the card. Fewer bars sit in the middle.
    slot = plot_width / max(len(bars), MIN_SLOTS)
    left = COMPACT_LEFT + (plot_width - slot * len(bars)) / 2
    baseline = COMPACT_TOP + plot_height
    parts = [
        f'<svg class="chart chart-compact {css}" viewBox="0 0 {COMPACT_WIDTH} {COMPACT_HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
        f'<line class="grid-line" x1="{COMPACT_LEFT}" x2="{COMPACT_WIDTH - COMPACT_RIGHT}" '
        f'y1="{baseline}" y2="{baseline}"></line>',
        f'<text x="{COMPACT_LEFT - 10}" y="{baseline}" text-anchor="end">0</text>',
    ]
    if highest:
        parts.append(f'<line class="grid-line" x1="{COMPACT_LEFT}" x2="{COMPACT_WIDTH - COMPACT_RIGHT}" '
                     f'y1="{COMPACT_TOP}" y2="{COMPACT_TOP}"></line>')
        parts.append(f'<text x="{COMPACT_LEFT - 10}" y="{_number(COMPACT_TOP + CHART_FONT_UNITS / 3)}" '
                     f'text-anchor="end">{highest}</text>')
    for index, (label, count) in enumerate(bars):
        height = plot_height * count / highest if highest else 0
        x = left + index * slot
        parts.append(f'<rect class="bar" x="{_number(x + 1)}" y="{_number(baseline - height)}" '
                     f'width="{_number(max(slot - 2, 1))}" height="{_number(height)}">'
                     f"<title>{escape(label)}: {count}</title></rect>")
        if count and text_width(str(count)) <= slot:
            parts.append(f'<text x="{_number(x + slot / 2)}" y="{_number(baseline - height - 6)}" '
                         f'text-anchor="middle">{count}</text>')
    placed = spaced_labels([(left + position * slot, text) for position, text in axis_labels])
    for centre, text in placed:
        parts.append(f'<text class="axis-label" x="{_number(centre)}" y="{_number(baseline + CHART_FONT_UNITS * 1.2)}" '
                     f'text-anchor="middle">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_svg(bins: Sequence[tuple[str, int]]) -> Markup:
    """The score distribution: one bar per bin of portal.attempts.gradebook.histogram_bins, the
    percentage scale's tens under the bars' edges."""
    if not any(count for _, count in bins):
        return Markup("")
    offset = 1 if bins and bins[0][0].startswith("below") else 0
    labels = [(offset - 0.5, "<0")] if offset else []
    labels += [(offset + tenth, f"{tenth * 10}") for tenth in range(11)]
    if bins[-1][0].startswith("above"):
        labels.append((len(bins) - 0.5, ">100"))
    labels.sort()
    total = sum(count for _, count in bins)
    return bar_chart_svg(bins, labels, css="chart-histogram",
                         summary=f"Distribution of {total} counting score{'s' if total != 1 else ''} by percentage")


def timeline_svg(days: Sequence[tuple[date, int]]) -> Markup:
    """Completions per day, every day from the first to the last drawn (a day without any is
    an empty slot), labelled with dates wherever they fit."""
    if not days:
        return Markup("")
    counts = dict(days)
    first, last = min(counts), max(counts)
    step = 1 if (last - first).days < TIMELINE_DAYS else 7  # past two months, a bar per week
    if step == 7:
        weekly: dict[date, int] = {}
        for day, count in counts.items():
            monday = day - timedelta(days=day.weekday())
            weekly[monday] = weekly.get(monday, 0) + count
        counts, first = weekly, first - timedelta(days=first.weekday())
    slots = [first + timedelta(days=offset) for offset in range(0, (last - first).days + 1, step)]
    bars = [(f"{'week of ' if step == 7 else ''}{day:%d %b %Y}", counts.get(day, 0)) for day in slots]
    labels = [(index + 0.5, f"{day:%d %b}") for index, day in enumerate(slots)]
    total = sum(counts.values())
    return bar_chart_svg(bars, labels, css="chart-timeline",
                         summary=f"{total} completion{'s' if total != 1 else ''} "
                                 f"from {first:%d %b %Y} to {last:%d %b %Y}")
