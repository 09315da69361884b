"""Render and check a strategy comparison: ``compare.json`` (written by ``spikebits compare``),
its summary table, the winner and its significance, two figures and ``report.md``.

``compare.json`` holds, for every (strategy, seed) run, its final front (``pareto.json``'s
points), its final hypervolume and a timeline of the hypervolume after each finished
evaluation; its format is ``compare.schema.json`` beside this module (``spikebits.compare/1``)
plus the cross-field checks of :func:`validate_compare`. Everything here is computed from
that file alone, so ``spikebits report DIR`` can render a comparison long after it ran.

Statistics, per strategy over its runs (one per seed):

* final hypervolume: mean and sample standard deviation (ddof = 1; 0 with one run);
* time to 90 %: the first timeline ``time_s`` at which a run's hypervolume reaches
  0.9 · HV*, where HV* is the best final hypervolume of any run of any strategy; averaged
  over the runs that reach it (and how many do);
* the winner: the highest mean final hypervolume; a two-sided Mann-Whitney U test of its
  per-seed final hypervolumes against the runner-up's (:func:`scipy.stats.mannwhitneyu`).

matplotlib (through ``results.plots``) and scipy.stats are imported on first use, so that
validating a file stays cheap (and a process that only writes compare.json never loads them).

This module is the public face; the work is done, one job a module, in

* :mod:`results.compare_schema`: the file's format, its checks and reading it (and a run's
  ``timeline.json``, :func:`read_timeline_file`);
* :mod:`results.compare_stats`: the numbers (hypervolumes, summary, Mann-Whitney tests,
  each strategy's best point);
* :mod:`results.compare_figures`: ``compare.png`` and ``allocation_compare.png``;
* :mod:`results.compare_report`: ``report.md``, and writing figures and report together;

each importing only those above it in this list.
"""

from spikebits.results.compare_figures import (
    ALLOCATION_PNG,
    COMPARE_PNG,
    PLOT_TITLES,
    plot_allocation_compare,
    plot_compare,
)
from spikebits.results.compare_report import DIGITS, REPORT_MD, format_report_md, write_report
from spikebits.results.compare_schema import (
    COMPARE_SCHEMA,
    FIX_HINT,
    MAX_MESSAGE,
    SCHEMA_FILE,
    TIMELINE_FIX,
    load_compare_schema,
    read_compare_json,
    read_timeline_file,
    validate_compare,
)
from spikebits.results.compare_stats import (
    ALPHA,
    REACH_FRACTION,
    against_primary,
    best_final_hypervolume,
    best_points,
    hypervolume_at,
    recompute_hypervolume,
    runs_of,
    summarize,
    time_to_reach,
    winner,
)

__all__ = [
    "ALLOCATION_PNG",
    "ALPHA",
    "COMPARE_PNG",
    "COMPARE_SCHEMA",
    "DIGITS",
    "FIX_HINT",
    "MAX_MESSAGE",
    "PLOT_TITLES",
    "REACH_FRACTION",
    "REPORT_MD",
    "SCHEMA_FILE",
    "TIMELINE_FIX",
    "against_primary",
    "best_final_hypervolume",
    "best_points",
    "format_report_md",
    "hypervolume_at",
    "load_compare_schema",
    "plot_allocation_compare",
    "plot_compare",
    "read_compare_json",
    "read_timeline_file",
    "recompute_hypervolume",
    "runs_of",
    "summarize",
    "time_to_reach",
    "validate_compare",
    "winner",
    "write_report",
]
