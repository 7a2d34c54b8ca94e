"""Small server-rendered SVG charts: no JavaScript, no library, every label escaped.

Pure functions, values in and markup out, so they test without an app. The markup uses
the `.chart` classes of static/style.css for its colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

BAR_WIDTH = 640
BAR_HEIGHT = 22
BAR_GAP = 10
LABEL_WIDTH = 110
VALUE_WIDTH = 40

LINE_WIDTH = 640
LINE_HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 40, 16, 12, 28


def _number(value: float) -> str:
    """Coordinates to two decimals: exact enough for a screen, stable for tests."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def answer_breakdown_svg(correct: int | None, incorrect: int | None, unanswered: int | None) -> Markup:
    """Three horizontal bars (correct, incorrect, unanswered), each as wide as its share.

    Missing counts draw as zero; with no answers at all the bars are empty but present,
    so the page keeps its shape.
    """
    rows = [("Correct", "correct", correct or 0), ("Incorrect", "incorrect", incorrect or 0),
            ("Unanswered", "unanswered", unanswered or 0)]
    total = sum(count for _, _, count in rows)
    track = BAR_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(rows) * (BAR_HEIGHT + BAR_GAP)
    summary = ", ".join(f"{count} {label.lower()}" for label, _, count in rows)
    parts = [
        f'<svg class="chart chart-answers" viewBox="0 0 {BAR_WIDTH} {height}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    for index, (label, css, count) in enumerate(rows):
        y = index * (BAR_HEIGHT + BAR_GAP)
        width = track * count / total if total else 0
        middle = _number(y + BAR_HEIGHT / 2 + 4)
        parts.append(f'<text x="0" y="{middle}">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar-{css}" x="{LABEL_WIDTH}" y="{y}" width="{_number(width)}" '
            f'height="{BAR_HEIGHT}" rx="3"></rect>'
        )
        parts.append(f'<text x="{_number(LABEL_WIDTH + width + 6)}" y="{middle}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Point:
    """One completed attempt on the percentage-over-time chart."""

    label: str  # shown on hover: the exam and the date
    percentage: float


def percentage_line_svg(points: Sequence[Point]) -> Markup:
    """A line of percentages in the order given (oldest first), with gridlines at 0, 50 and 100.

    The scale runs from 0 to 100 unless a value falls outside (negative marking can
    give a negative percentage), in which case it stretches to include it. Answers
    empty markup for no points: the page then shows no chart at all.
    """
    return _percentage_line_svg(tuple(points))


# Keyed by the points themselves, the drawing's only input: a student who reloads the history
# gets the same drawing without redrawing it, and new or changed points (a webhook's new score)
# are a new key, so no drawing is ever stale or anyone else's. A few megabytes per worker at most.
@lru_cache(maxsize=512)
def _percentage_line_svg(points: tuple[Point, ...]) -> Markup:
    if not points:
        return Markup("")
    values = [point.percentage for point in points]
    low, high = min(0.0, *values), max(100.0, *values)
    plot_width = LINE_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = LINE_HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(index: int) -> float:
        # A single point sits in the middle rather than on the axis.
        return PAD_LEFT + (plot_width * index / (len(points) - 1) if len(points) > 1 else plot_width / 2)

    def y(value: float) -> float:
        return PAD_TOP + plot_height * (high - value) / (high - low)

    summary = f"Percentage over {len(points)} completed attempt{'s' if len(points) != 1 else ''}"
    parts = [
        f'<svg class="chart chart-progress" viewBox="0 0 {LINE_WIDTH} {LINE_HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    for mark in sorted({low, 0.0, 50.0, 100.0, high}):
        level = _number(y(mark))
        parts.append(f'<line class="grid-line" x1="{PAD_LEFT}" x2="{LINE_WIDTH - PAD_RIGHT}" y1="{level}" y2="{level}"></line>')
        parts.append(f'<text x="0" y="{_number(y(mark) + 4)}">{_number(mark)}%</text>')
    coordinates = [(_number(x(i)), _number(y(p.percentage))) for i, p in enumerate(points)]
    path = " ".join(f"{cx},{cy}" for cx, cy in coordinates)
    parts.append(f'<polyline class="line" points="{path}"></polyline>')
    for (cx, cy), point in zip(coordinates, points):
        parts.append(
            f'<circle class="dot" cx="{cx}" cy="{cy}" r="4">'
            f"<title>{escape(point.label)}: {point.percentage:.1f}%</title></circle>"
        )
    parts.append(
        f'<text x="{PAD_LEFT}" y="{LINE_HEIGHT - 6}">oldest</text>'
        f'<text x="{LINE_WIDTH - PAD_RIGHT}" y="{LINE_HEIGHT - 6}" text-anchor="end">newest</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
