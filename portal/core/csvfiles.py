"""CSV in and out: uploads read as Excel writes them, downloads safe to open in a spreadsheet.

The standard library's csv module does the parsing and quoting; what is added here is the
two rules every CSV of the portal follows, kept in one place.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flask import Response, stream_with_context

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP's "CSV injection"); tab and carriage return can start one too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A negative number alone (a score under negative marking: -2, -10.00, -1e+06 as "%g" writes a
# million) is a number to a spreadsheet, not a formula, so it is left as it is. Anything more
# after the minus is guarded: "-2+3" or "-cmd" run, and even a score "-2 / 20" would be computed
# (to -0.1), so that one keeps its quote (its percentage column is the number to sort by).
PLAIN_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?", re.IGNORECASE)


class NotCsv(ValueError):
    """An upload that is not UTF-8 text in CSV form; the message says so in a staff member's words."""


def safe_cell(value) -> str:
    """A value as a CSV cell that no spreadsheet runs: a leading formula character is quoted by a
    "'", unless the cell is a negative number and nothing else."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV text of `header` and `rows`, one line at a time, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in itertools.chain([header], rows):
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_download(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> Response:
    """A streamed CSV attachment: memory stays constant however many rows `rows` yields.

    A UTF-8 byte order mark first, so that Excel reads non-ASCII names rightly.
    """
    def body():
        # Lines are sent in pieces of about 64 KB, not one by one: a write per line costs the
        # server (and the network) far more than the line itself.
        piece, size = ["\ufeff"], 0
        for line in csv_lines(header, rows):
            piece.append(line)
            size += len(line)
            if size >= 65536:
                yield "".join(piece)
                piece, size = [], 0
        yield "".join(piece)

    response = Response(stream_with_context(body()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def read_csv(data: bytes) -> list[dict[str, str]]:
    """An uploaded CSV's rows as dicts keyed by the header's names (lower-cased, trimmed).

    UTF-8 with or without a byte order mark, as Excel saves it. Raises NotCsv otherwise.
    """
    return [row for _line, row in read_table(decode_upload(data)).rows]


@dataclass(frozen=True)
class CsvTable:
    """A CSV's header (lower-cased, trimmed names, in the file's order) and its non-blank rows,
    each with the line of the file it starts on (a quoted cell may span lines).

    `overlong`: the rows with more cells than the header, by line, and how many they have;
    their cells past the header's are not in `rows`. Empty cells at a row's end do not count
    (Excel adds them to rows shorter than the longest)."""

    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    overlong: dict[int, int] = field(default_factory=dict)


def decode_upload(data: bytes) -> str:
    """An upload's text: UTF-8, with or without Excel's byte order mark; NotCsv otherwise."""
    # First: a spreadsheet or an image is rarely valid UTF-8, and "not UTF-8" would mislead.
    if b"\x00" in data:
        raise NotCsv("The file is not a CSV file (it holds binary data).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotCsv("The file is not UTF-8 text. In Excel, save it as “CSV UTF-8 (Comma delimited)”.") from None
    return text


def read_table(text: str) -> CsvTable:
    """The header and rows of CSV `text` (see decode_upload); NotCsv if it is not CSV."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise NotCsv("The file is empty: it needs a header row.")
        names = [name.strip().lower() for name in header]
        rows, overlong = [], {}
        next_line = reader.line_num + 1
        for row in reader:
            cells = [cell.strip() for cell in row]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                rows.append((next_line, dict(zip(names, cells, strict=False))))
                if len(cells) > len(names):
                    overlong[next_line] = len(cells)
            next_line = reader.line_num + 1
        return CsvTable(names, rows, overlong)
    except csv.Error as error:
        raise NotCsv(f"The file is not a CSV file the portal can read ({error}).") from None
