"""Every table in the templates follows static/style.css's phone pattern, so none is cut off on a phone.

A template's table sits in <div class="table-wrap"> and names each body cell's column in
data-label (which the phone layout shows beside the value), or is a row's buttons
(class="actions"); a header cell is never empty.
The browser tests check the pages themselves (tests/e2e/test_accessibility.py); this finds a
new page's table that forgot the pattern without a browser.
"""

import re
from pathlib import Path

import pytest

from tests import CHECKOUT

TEMPLATES = CHECKOUT / "templates"
WITH_TABLES = sorted(path for path in TEMPLATES.rglob("*.html") if "<table" in path.read_text())


def template_id(path: Path) -> str:
    return str(path.relative_to(TEMPLATES))


def test_the_portal_has_tables_to_check():
    assert len(WITH_TABLES) >= 5


@pytest.mark.parametrize("path", WITH_TABLES, ids=template_id)
def test_every_table_is_wrapped_and_labels_its_cells(path):
    html = path.read_text()

    wrapped = re.findall(r'<div class="table-wrap">\s*<table', html)
    assert len(wrapped) == html.count("<table"), "a <table> outside <div class=\"table-wrap\">"
    cells = re.findall(r"<td\b[^>]*>", html)
    # A row's buttons need no label beside them: such a cell says so with class="actions".
    unlabelled = [cell for cell in cells if not re.search(r'data-label=|colspan=|class="actions"', cell)]
    assert not unlabelled, f"body cells without data-label: {unlabelled}"
    assert not re.search(r"<th\b[^>]*>\s*</th>", html), "an empty header cell: name it (a visually-hidden span)"
