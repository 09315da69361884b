"""spikebits.results: trial records, Pareto fronts, hypervolume, output files, plots, reports.

The rightmost package: it imports only ``space`` (for Config, Budget and the metric names),
so any strategy's records are turned into fronts and files by the same code.

The plotting functions are loaded on first use (``results.plots`` imports matplotlib, most
of a second; a Ray worker that only scores trials never needs it).
"""

from typing import Any

from spikebits.results.pareto import RunningFront, check_objectives, eligible, front_axes, hypervolume, pareto_front, reference_point
from spikebits.results.compare_schema import read_timeline_file
from spikebits.results.formats import MAX_RESULT_BYTES
from spikebits.results.records import STATES, TrialRecord, to_jsonable
from spikebits.results.report import format_front_table, format_metric
from spikebits.results.storage import (
    PARETO_SCHEMA,
    pareto_records,
    read_pareto_json,
    read_run_json,
    read_trial_records,
    read_trials_csv,
    trials_columns,
    write_pareto_json,
    write_run_json,
    write_trials_csv,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "PARETO_SCHEMA",
    "RunningFront",
    "STATES",
    "TrialRecord",
    "check_objectives",
    "eligible",
    "format_front_table",
    "format_metric",
    "front_axes",
    "hypervolume",
    "pareto_front",
    "pareto_records",
    "plot_allocation",
    "plot_bit_trajectories",
    "plot_front",
    "plot_sensitivity",
    "read_pareto_json",
    "read_run_json",
    "read_timeline_file",
    "read_trial_records",
    "read_trials_csv",
    "reference_point",
    "to_jsonable",
    "trials_columns",
    "write_pareto_json",
    "write_run_json",
    "write_trials_csv",
]

_PLOTS = ("plot_allocation", "plot_bit_trajectories", "plot_front", "plot_sensitivity")


def __getattr__(name: str) -> Any:
    if name in _PLOTS:
        from spikebits.results import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
