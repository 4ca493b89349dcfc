"""The CSV formula guard (issue 15, finding 10): a cell a spreadsheet would evaluate —
=, +, -, @, their fullwidth and small forms, after leading blanks, or a tab, CR or LF
first — starts with an apostrophe."""

from __future__ import annotations

import pytest

from chalicelib.reports.evidence import csv_cell

pytestmark = pytest.mark.disable_socket


@pytest.mark.parametrize(
    "value",
    [
        '\uff1dHYPERLINK("https://evil.example")',
        "\uff0b34 600",
        "\uff0d1+1",
        "\uff20SUM(A1:A9)",
        "\ufe661+1",
        "\u22121+1",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        " =1+1",
        "\u3000\uff1d1",
        "=1+1",
        "@x",
    ],
)
def test_a_cell_that_could_start_a_formula_is_quoted(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["Acme", "ana@example.com", "2026-01-05T09:30:00.000Z", " plain", "\uff11\uff12\uff13"]
)
def test_other_cells_are_kept(value: str) -> None:
    assert csv_cell(value) == value
