"""Plain-text reports of a front (what the CLI prints)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from spikebits.results.records import TrialRecord
from spikebits.space import format_table, is_large, is_percent
from spikebits.space.metrics import ACCURACY, TEST_ACCURACY

MISSING = "-"


def format_metric(metric: str, value: float | None) -> str:
    """One metric value as text, as its declaration says (:class:`space.Metric`): accuracy in
    percent with 2 decimals (``0.9123`` -> ``91.23%``), the large ones (S-ACE, energy, size)
    in scientific notation with 3 significant digits
    (``123456789`` -> ``1.23e+08``), everything else with 3 decimals; missing -> ``-``."""
    if value is None or not math.isfinite(value):
        return MISSING
    if is_percent(metric):
        return f"{100.0 * value:.2f}%"
    if is_large(metric):
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
    if ACCURACY.name in columns and any(TEST_ACCURACY.name in r.metrics for r in front):
        columns.insert(columns.index(ACCURACY.name) + 1, TEST_ACCURACY.name)
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
