"""Plain-text reports of a front (what the CLI prints)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from spikebits.results.records import TrialRecord
from spikebits.space import format_table

#: Metrics shown in scientific notation (they run to 1e6–1e12).
LARGE_METRICS: frozenset[str] = frozenset({"s_ace", "energy_pj", "size_bits", "s_ace_active", "energy_pj_active"})
MISSING = "-"


def format_metric(metric: str, value: float | None) -> str:
    """One metric value as text: accuracy in percent with 2 decimals (``0.9123`` ->
    ``91.23%``), S-ACE / energy / size in scientific notation with 3 significant digits
    (``123456789`` -> ``1.23e+08``), everything else with 3 decimals; missing -> ``-``."""
    if value is None or not math.isfinite(value):
        return MISSING
    if metric in ("accuracy", "test_accuracy"):
        return f"{100.0 * value:.2f}%"
    if metric in LARGE_METRICS:
        return f"{value:.2e}"
    return f"{value:.3f}"


def format_front_table(front: Sequence[TrialRecord], objectives: Sequence[str]) -> str:
    """A text table of ``front``: trial number (#), one column per objective, the strategy
    and the config (``Config.short()``), one row per point in the given order.

    When ``accuracy`` (validation) is an objective and a point carries ``test_accuracy``, a
    ``test_accuracy`` column follows it: reported beside, never decided on.
    Numbers are right-aligned, text left-aligned; columns are separated by two spaces. An
    empty front gives the header and the line ``(no feasible points)``.
    """
    columns = list(objectives)
    if "accuracy" in columns and any("test_accuracy" in r.metrics for r in front):
        columns.insert(columns.index("accuracy") + 1, "test_accuracy")
    header = ["#", *columns, "strategy", "config"]
    rows = [
        [
            str(r.number),
            *(format_metric(m, r.metrics.get(m)) for m in columns),
            r.strategy,
            MISSING if r.config is None else r.config.short(),
        ]
        for r in front
    ]
    numeric = len(columns) + 1  # '#' and the metrics are right-aligned
    return format_table(header, rows, align="r" * numeric + "l" * 2, empty="(no feasible points)")
