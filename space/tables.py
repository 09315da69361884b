"""Plain-text tables, shared by every report that prints one (energy, hardware simulation,
sensitivity, Pareto fronts).

A table is a header row and rows of strings, in columns two spaces apart, with a rule of
dashes under the header; every column is as wide as its widest cell. Numbers are formatted
by the caller (:func:`format_number` for counts and energies).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Column separator.
GAP = "  "


def format_number(v: float, digits: int = 4) -> str:
    """``digits`` significant digits (``f"{v:.4g}"`` by default), as the report tables print
    every count and energy."""
    return f"{v:.{digits}g}"


def format_table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    align: str | None = None,
    empty: str | None = None,
) -> str:
    """``head`` and ``rows`` in columns under a rule of dashes, one line per row.

    Args:
        head: the column names.
        rows: the cells, already formatted, one sequence of ``len(head)`` strings per row.
        title: a line printed above the header (none by default).
        align: one character per column, ``"r"`` (right-aligned) or ``"l"`` (left-aligned);
            by default every column is right-aligned.
        empty: a line printed in place of the rows when there are none (nothing by default).

    Columns are separated by two spaces; the header and the rows carry no trailing spaces.
    """
    align = align or "r" * len(head)
    if len(align) != len(head) or set(align) - {"l", "r"}:
        raise ValueError(f"align must give 'l' or 'r' for each of the {len(head)} columns, not {align!r}")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return GAP.join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    lines = [] if title is None else [title]
    lines += [line(head), GAP.join("-" * w for w in widths)]
    lines += [line(row) for row in rows] or ([] if empty is None else [empty])
    return "\n".join(lines)
