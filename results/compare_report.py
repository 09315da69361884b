"""The Markdown report of a strategy comparison (:func:`format_report_md`) and the one call
that writes a comparison's figures and report into its folder (:func:`write_report`), both
from ``compare.json``'s data alone, so ``spikebits report DIR`` can render a comparison long
after it ran."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spikebits.space import atomic_write_text, format_number

from spikebits.results.compare_figures import (
    ALLOCATION_PNG,
    COMPARE_PNG,
    PLOT_TITLES,
    plot_allocation_compare,
    plot_compare,
)
from spikebits.results.compare_stats import (
    ALPHA,
    REACH_FRACTION,
    against_primary,
    best_final_hypervolume,
    runs_of,
    summarize,
    winner,
)
from spikebits.results.report import MISSING

#: The report's file name (:func:`write_report` writes it beside the figures).
REPORT_MD = "report.md"
#: Significant digits of the numbers in the report.
DIGITS = 4


def _num(value: float | None) -> str:
    """``value`` with :data:`DIGITS` significant digits; missing or not finite: ``-``."""
    return MISSING if value is None or not math.isfinite(value) else format_number(value, DIGITS)


def _percent(value: float | None) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}%"


def _evaluation_budget(budget: Mapping[str, Any]) -> str:
    if "evaluations" in budget:
        n = budget["evaluations"]
        return f"{n} evaluation{'s' * (n != 1)} per run"
    return f"{_num(budget['seconds'])} s per run"


def _winner_paragraph(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    text = f"**{result['strategy']}** has the highest mean final hypervolume ({_num(result['mean'])})"
    if result["runner_up"] is None:
        return text + f". No significance test: {result['note']}."
    text += f", ahead of **{result['runner_up']}** ({_num(result['runner_up_mean'])})."
    if result["p_value"] is None:
        return text + f" No significance test: {result['note']}."
    n_best = len(runs_of(data, result["strategy"]))
    n_second = len(runs_of(data, result["runner_up"]))
    verdict = "significant" if result["significant"] else "not significant"
    relation = "larger" if result["exceeds_spread"] else "not larger"
    return (text + f" Mann-Whitney U = {_num(result['u'])}, two-sided p = {format_number(result['p_value'], 3)} "
            f"({n_best} and {n_second} seeds): {verdict} at the {ALPHA:g} level. "
            f"The difference of the means ({_num(result['difference'])}) is {relation} than the seed spread "
            f"(the larger standard deviation, {_num(result['spread'])}).")


def format_report_md(data: Mapping[str, Any], *, plots: Sequence[str] = ()) -> str:
    """The comparison as Markdown: title (model, data set), settings (objectives, budget,
    evaluation budget, seeds, reference point, command, versions), the table

        strategy | final hypervolume (mean ± sd) | time to 90% of best (s) | evaluations |
        feasible | wall time (s)

    (means over seeds; the time column also says how many runs reached 90 % of HV*), the
    winner paragraph (:func:`winner`), the primary strategy (the first listed) against each
    other one (:func:`against_primary`) and an image link to each file name in ``plots``.
    Numbers have 4 significant digits (fractions: percent with one decimal); the same data
    gives the same text byte for byte.
    """
    objectives = data["objectives"]
    budget = data["budget"]
    seeds = data["seeds"]
    lines = [
        f"# Strategy comparison: {data['model']} on {data['dataset']}",
        "",
        "## Settings",
        "",
        "- objectives: " + ", ".join(f"{m} ({d})" for m, d in objectives.items()),
        "- budget: " + (", ".join(f"{m} ≤ {_num(v)}" for m, v in budget.items()) if budget else "none"),
        f"- evaluation budget: {_evaluation_budget(data['evaluation_budget'])}",
        f"- seeds ({len(seeds)}): " + ", ".join(str(s) for s in seeds),
        "- reference point: " + ", ".join(f"{m} = {_num(v)}" for m, v in data["reference_point"].items()),
        f"- command: `{' '.join(data['command'])}`",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in data["versions"].items()),
        f"- created: {data['created']}",
        "",
        "## Results",
        "",
        f"Means over seeds. Time to 90% of best: the first time a run's hypervolume reaches "
        f"{REACH_FRACTION:g} × the best final hypervolume of any run ({_num(best_final_hypervolume(data))}), "
        "averaged over the runs that reach it (reached/runs).",
        "",
        "| strategy | final hypervolume (mean ± sd) | time to 90% of best (s) | evaluations | feasible | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summarize(data):
        hv = MISSING if row["seeds"] == 0 else f"{_num(row['hypervolume_mean'])} ± {_num(row['hypervolume_sd'])}"
        reach = f"{_num(row['time_to_90_s'])} ({row['reached_90']}/{row['seeds']})"
        lines.append(f"| {row['strategy']} | {hv} | {reach} | {_num(row['evaluations_mean'])} | "
                     f"{_percent(row['feasible_fraction_mean'])} | {_num(row['wall_time_s_mean'])} |")
    lines += ["", "## Winner", "", _winner_paragraph(data, winner(data))]
    tests = against_primary(data)
    if tests:
        primary = data["strategies"][0]
        lines += [
            "", f"## {primary} against each other strategy", "",
            f"The first strategy listed is the primary one. Difference: its mean final hypervolume less the other's; "
            f"Mann-Whitney U of its per-seed final hypervolumes against the other's, two-sided, significant below {ALPHA:g}.",
            "", "| strategy | its mean | difference | U | p | |", "|---|---:|---:|---:|---:|---|",
        ]
        for t in tests:
            if t["p_value"] is None:
                verdict = t["note"] or ""
            elif t["significant"]:
                verdict = f"{primary} {'higher' if t['difference'] > 0 else 'lower'}, significant"
            else:
                verdict = "not significant"
            lines.append(f"| {t['strategy']} | {_num(t['mean'])} | {_num(t['difference'])} | {_num(t['u'])} | "
                         f"{MISSING if t['p_value'] is None else format_number(t['p_value'], 3)} | {verdict} |")
    if plots:
        lines += ["", "## Figures", ""]
        for name in plots:
            lines += [f"![{PLOT_TITLES.get(name, Path(name).stem)}]({name})", ""]
        lines.pop()
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | os.PathLike[str], data: Mapping[str, Any]) -> list[Path]:
    """Write ``compare.png`` (:func:`plot_compare`), ``allocation_compare.png``
    (:func:`plot_allocation_compare`, each strategy's most accurate point; left out when no
    front point has a config) and ``report.md`` (:func:`format_report_md`, linking the
    figures written) into ``out_dir``, each atomically; return their paths in that order."""
    out = Path(out_dir)
    written = [out / COMPARE_PNG]
    plot_compare(written[0], data)
    if plot_allocation_compare(out / ALLOCATION_PNG, data):
        written.append(out / ALLOCATION_PNG)
    report = out / REPORT_MD
    atomic_write_text(report, format_report_md(data, plots=[p.name for p in written]))
    return [*written, report]
