"""compare.json: schema and cross-field checks, hypervolume recomputed from the fronts,
the summary statistics, the winner's Mann-Whitney test, the Markdown report and the figures,
on a hand-built comparison whose numbers are worked out by hand below."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from figure_spy import capture_figures
from scipy.stats import mannwhitneyu

from spikebits.results.compare import (
    against_primary,
    best_points,
    format_report_md,
    hypervolume_at,
    load_compare_schema,
    plot_allocation_compare,
    plot_compare,
    read_compare_json,
    recompute_hypervolume,
    summarize,
    validate_compare,
    winner,
    write_report,
)
from spikebits.space import BudgetError, DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Objectives accuracy (max) and bit_budget (min), reference point (0, 8). A point (a, b)
# dominates the rectangle a × (8 - b); two points (a1, b1), (a2, b2) with b1 < b2 and a1 < a2
# dominate a1·(8 - b1) + (a2 - a1)·(8 - b2). Every number is a binary fraction, so the
# hypervolumes are exact.
#
#   nsga2           seed 0: (0.5, 2), (0.75, 4)    0.5·6 + 0.25·4   = 4.0
#                   seed 1: (0.625, 4)             0.625·4          = 2.5
#                   seed 2: (0.5, 1), (0.875, 6)   0.5·7 + 0.375·2  = 4.25
#   differentiable  seed 0: (0.75, 2), (0.875, 4)  0.75·6 + 0.125·4 = 5.0
#                   seed 1: (0.625, 1), (0.875, 4) 0.625·7 + 0.25·4 = 5.375
#                   seed 2: (0.5, 2)               0.5·6            = 3.0
HAND_HV = {
    ("nsga2", 0): 4.0, ("nsga2", 1): 2.5, ("nsga2", 2): 4.25,
    ("differentiable", 0): 5.0, ("differentiable", 1): 5.375, ("differentiable", 2): 3.0,
}
FRONTS = {
    ("nsga2", 0): [(0.5, 2.0), (0.75, 4.0)],
    ("nsga2", 1): [(0.625, 4.0)],
    ("nsga2", 2): [(0.5, 1.0), (0.875, 6.0)],
    ("differentiable", 0): [(0.75, 2.0), (0.875, 4.0)],
    ("differentiable", 1): [(0.625, 1.0), (0.875, 4.0)],
    ("differentiable", 2): [(0.5, 2.0)],
}
# HV* = 5.375, so 90 % of it is 4.8375: no nsga2 run gets there; differentiable seed 0 at
# t = 3.0, seed 1 at t = 2.5, seed 2 never (mean 2.75 over 2 of 3).
TIMELINES = {
    ("nsga2", 0): [(1.0, 0.0), (2.0, 3.0), (3.0, 3.0), (4.0, 4.0)],
    ("nsga2", 1): [(1.0, 2.5), (2.0, 2.5), (3.0, 2.5), (4.0, 2.5)],
    ("nsga2", 2): [(0.5, 0.0), (1.0, 3.5), (1.5, 4.25), (2.0, 4.25)],
    ("differentiable", 0): [(1.0, 0.0), (2.0, 3.0), (3.0, 5.0), (4.0, 5.0)],
    ("differentiable", 1): [(0.5, 2.0), (1.5, 4.375), (2.5, 5.375), (3.5, 5.375)],
    ("differentiable", 2): [(1.0, 3.0), (2.0, 3.0)],
}
FEASIBLE = {("nsga2", 0): 0.75, ("nsga2", 1): 1.0, ("nsga2", 2): 0.5,
            ("differentiable", 0): 1.0, ("differentiable", 1): 0.5, ("differentiable", 2): None}
WALL = {("nsga2", 0): 4.5, ("nsga2", 1): 4.25, ("nsga2", 2): 2.5,
        ("differentiable", 0): 4.0, ("differentiable", 1): 3.75, ("differentiable", 2): 2.25}


def point(number: int, accuracy: float, bit_budget: float, strategy: str) -> dict[str, Any]:
    w = int(bit_budget) + 1  # W bits tell the points apart in the allocation figure
    return {
        "number": number,
        "metrics": {"accuracy": accuracy, "bit_budget": bit_budget},
        "config": {"layers": {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"},
                              "fc": {"w_bits": w, "s_bits": 2, "timesteps": 2, "scheme": "pow2" if w > 4 else "uniform"}}},
        "feasible": True,
        "strategy": strategy,
    }


def make_run(strategy: str, seed: int) -> dict[str, Any]:
    key = (strategy, seed)
    timeline = [{"time_s": t, "evaluations": i + 1, "hypervolume": hv} for i, (t, hv) in enumerate(TIMELINES[key])]
    return {
        "strategy": strategy,
        "seed": seed,
        "folder": f"runs/{strategy}/seed-{seed}",
        "state": "complete" if len(timeline) == 4 else "interrupted",
        "wall_time_s": WALL[key],
        "evaluations": len(timeline),
        "feasible_fraction": FEASIBLE[key],
        "hypervolume": HAND_HV[key],
        "timeline": timeline,
        "front": [point(10 * seed + i, a, b, strategy) for i, (a, b) in enumerate(FRONTS[key])],
    }


def make_data() -> dict[str, Any]:
    return {
        "schema": "spikebits.compare/1",
        "created": "2026-11-29T01:20:00Z",
        "command": ["spikebits", "compare", "--model", "digits_cnn", "--seeds", "0,1,2"],
        "model": "digits_cnn",
        "dataset": "digits",
        "objectives": {"accuracy": "maximize", "bit_budget": "minimize"},
        "budget": {"bit_budget": 6.0},
        "reference_point": {"accuracy": 0.0, "bit_budget": 8.0},
        "evaluation_budget": {"evaluations": 4},
        "seeds": [0, 1, 2],
        "strategies": ["nsga2", "differentiable"],
        "versions": {"python": "3.11.7", "spikebits": "0.1.0", "torch": "2.13.0"},
        "runs": [make_run(s, seed) for s in ("nsga2", "differentiable") for seed in (0, 1, 2)],
    }


@pytest.fixture
def data() -> dict[str, Any]:
    return make_data()


# --------------------------------------------------------------------- schema
def test_schema_is_valid_draft_2020_12_and_accepts_the_example(data: dict[str, Any]) -> None:
    schema = load_compare_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"] == {"const": "spikebits.compare/1"}
    assert schema["required"] == ["schema", "created", "command", "model", "dataset", "objectives", "budget",
                                  "reference_point", "evaluation_budget", "seeds", "strategies", "versions", "runs"]
    assert validate_compare(data) is None
    data["evaluation_budget"] = {"seconds": 600.0}
    data["budget"] = {}
    data["runs"][5]["front"][0]["config"] = None
    assert validate_compare(data) is None


def mutate(data: dict[str, Any], change: str) -> dict[str, Any]:
    bad = copy.deepcopy(data)
    if change == "missing top":
        del bad["reference_point"]
    elif change == "missing run key":
        del bad["runs"][1]["folder"]
    elif change == "wrong type":
        bad["runs"][0]["seed"] = "0"
    elif change == "extra top":
        bad["notes"] = "hi"
    elif change == "extra timeline":
        bad["runs"][2]["timeline"][1]["loss"] = 0.1
    elif change == "two budgets":
        bad["evaluation_budget"] = {"evaluations": 4, "seconds": 60.0}
    elif change == "schema name":
        bad["schema"] = "spikebits.compare/2"
    elif change == "no objective":  # one is enough (accuracy alone, against a budget: issue 29)
        bad["objectives"] = {}
    return bad


@pytest.mark.parametrize(("change", "where", "words"), [
    ("missing top", "at $:", "'reference_point' is a required property"),
    ("missing run key", "at $.runs[1]:", "'folder' is a required property"),
    ("wrong type", "at $.runs[0].seed:", "'0' is not of type 'integer'"),
    ("extra top", "at $:", "('notes' was unexpected)"),
    ("extra timeline", "at $.runs[2].timeline[1]:", "('loss' was unexpected)"),
    ("two budgets", "at $.evaluation_budget:", "has too many properties"),
    ("schema name", "at $.schema:", "'spikebits.compare/1' was expected"),
    ("no objective", "at $.objectives:", "should be non-empty"),
])
def test_schema_errors_are_one_line(data: dict[str, Any], change: str, where: str, words: str) -> None:
    with pytest.raises(DataError) as info:
        validate_compare(mutate(data, change))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"compare data is invalid {where} ")
    assert words in message
    assert message.endswith("; write it again with spikebits compare")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d.update(reference_point={"accuracy": 0.0, "s_ace": 1e9}),
     "$.reference_point: names accuracy, s_ace, not the objectives accuracy, bit_budget"),
    (lambda d: d["objectives"].update(bit_budget="maximize"), "$.objectives.bit_budget: bit_budget is to minimize"),
    (lambda d: d["objectives"].update(latency="minimize"), "$.objectives.latency: unknown metric 'latency'"),
    (lambda d: d["runs"][3].update(strategy="tpe"), "$.runs[3].strategy: 'tpe' is not one of the strategies"),
    (lambda d: d["runs"][4].update(seed=7), "$.runs[4].seed: 7 is not one of the seeds"),
    (lambda d: d["runs"][4].update(seed=0), "$.runs[4]: a second run of differentiable with seed 0"),
    (lambda d: d["runs"][0]["timeline"][2].update(hypervolume=2.0), "$.runs[0].timeline[2].hypervolume: hypervolume decreases"),
    (lambda d: d["runs"][0]["timeline"][2].update(time_s=1.5), "$.runs[0].timeline[2].time_s: time goes backwards"),
    (lambda d: d["runs"][0]["timeline"][2].update(evaluations=2), "$.runs[0].timeline[2].evaluations: evaluations do not increase"),
    (lambda d: d["runs"][0]["front"][0]["metrics"].update(loss=0.3), "$.runs[0].front[0].metrics: unknown metric 'loss'"),
])
def test_cross_field_checks(data: dict[str, Any], edit: Any, words: str) -> None:
    edit(data)
    with pytest.raises(DataError) as info:
        validate_compare(data)
    assert f"compare data is invalid at {words}" in str(info.value)
    assert "\n" not in str(info.value)


def test_read_compare_json(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    assert read_compare_json(path) == data
    path.write_text('{"schema": "spikebits.compare/1",\n "runs": [', encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_compare_json(path)
    assert str(info.value) == f"comparison file {path} is not valid JSON (Expecting value at line 2); write it again with spikebits compare"
    path.write_text(json.dumps({**data, "seeds": []}), encoding="utf-8")
    with pytest.raises(DataError, match=r"compare.json is invalid at \$.seeds: \[\] should be non-empty"):
        read_compare_json(path)
    with pytest.raises(DataError, match="does not exist; run spikebits compare first"):
        read_compare_json(tmp_path / "missing.json")


# --------------------------------------------------------------------- numbers
def test_recompute_hypervolume_equals_the_hand_numbers(data: dict[str, Any]) -> None:
    for run in data["runs"]:
        assert recompute_hypervolume(run, data) == HAND_HV[(run["strategy"], run["seed"])]
        assert recompute_hypervolume(run, data) == run["hypervolume"]
    run = copy.deepcopy(data["runs"][0])
    run["front"][1]["feasible"] = False  # only (0.5, 2) counts: 0.5 · 6
    assert recompute_hypervolume(run, data) == 3.0
    run["front"][0]["metrics"]["bit_budget"] = None  # lacks an objective: nothing counts
    assert recompute_hypervolume(run, data) == 0.0


def test_hypervolume_at_is_a_step_function(data: dict[str, Any]) -> None:
    run = data["runs"][3]  # differentiable seed 0: (1, 0), (2, 3), (3, 5), (4, 5)
    assert hypervolume_at(run, [0.0, 0.99, 1.0, 2.5, 3.0, 10.0]).tolist() == [0.0, 0.0, 0.0, 3.0, 5.0, 5.0]
    assert hypervolume_at({"timeline": []}, [0.0, 1.0]).tolist() == [0.0, 0.0]


def test_summarize_gives_the_hand_numbers(data: dict[str, Any]) -> None:
    nsga2, diff = summarize(data)
    assert list(nsga2) == ["strategy", "seeds", "hypervolume_mean", "hypervolume_sd", "time_to_90_s", "reached_90",
                           "evaluations_mean", "feasible_fraction_mean", "wall_time_s_mean"]
    # nsga2: HV 4, 2.5, 4.25 -> mean 10.75/3; deviations 5/12, -13/12, 8/12 -> variance (25+169+64)/144/2
    assert nsga2["strategy"] == "nsga2" and nsga2["seeds"] == 3
    assert nsga2["hypervolume_mean"] == pytest.approx(10.75 / 3, rel=1e-12)
    assert nsga2["hypervolume_sd"] == pytest.approx(math.sqrt(258 / 288), rel=1e-12)
    assert nsga2["time_to_90_s"] is None and nsga2["reached_90"] == 0
    assert nsga2["evaluations_mean"] == 4.0
    assert nsga2["feasible_fraction_mean"] == pytest.approx(0.75)
    assert nsga2["wall_time_s_mean"] == pytest.approx(3.75)
    # differentiable: HV 5, 5.375, 3 -> mean 13.375/3; deviations 13/24, 22/24, -35/24
    assert diff["strategy"] == "differentiable" and diff["seeds"] == 3
    assert diff["hypervolume_mean"] == pytest.approx(13.375 / 3, rel=1e-12)
    assert diff["hypervolume_sd"] == pytest.approx(math.sqrt((169 + 484 + 1225) / 576 / 2), rel=1e-12)
    assert diff["time_to_90_s"] == 2.75 and diff["reached_90"] == 2  # (3.0 + 2.5) / 2; seed 2 never
    assert diff["evaluations_mean"] == pytest.approx(10 / 3)
    assert diff["feasible_fraction_mean"] == 0.75  # seed 2 has none: (1.0 + 0.5) / 2
    assert diff["wall_time_s_mean"] == pytest.approx(10 / 3)


def test_summarize_one_seed_and_a_strategy_without_runs(data: dict[str, Any]) -> None:
    data["strategies"].append("tpe")
    data["runs"] = [r for r in data["runs"] if r["seed"] == 1]
    rows = summarize(data)
    assert [(r["strategy"], r["seeds"], r["hypervolume_mean"], r["hypervolume_sd"]) for r in rows] == [
        ("nsga2", 1, 2.5, 0.0), ("differentiable", 1, 5.375, 0.0), ("tpe", 0, None, None)]
    # HV* is now 5.375 again; 0.9 of it first reached by differentiable seed 1 at 2.5
    assert [(r["time_to_90_s"], r["reached_90"]) for r in rows] == [(None, 0), (2.5, 1), (None, 0)]
    result = winner(data)
    assert result["strategy"] == "differentiable" and result["runner_up"] == "nsga2"
    assert result["p_value"] is None and result["u"] is None and result["significant"] is False
    assert result["note"] == "a significance test needs at least 2 seeds per strategy"
    assert result["difference"] == 2.875 and result["exceeds_spread"] is None


def test_winner_and_mann_whitney(data: dict[str, Any]) -> None:
    result = winner(data)
    assert result["strategy"] == "differentiable" and result["runner_up"] == "nsga2"
    x, y = [5.0, 5.375, 3.0], [4.0, 2.5, 4.25]
    expected = mannwhitneyu(x, y, alternative="two-sided")
    assert result["u"] == float(expected.statistic) and result["p_value"] == float(expected.pvalue)
    # By hand: pairs with x > y: 5 and 5.375 beat all three, 3 beats only 2.5 -> U = 7. Exact
    # null distribution of U for 3 + 3 (counts of U = 0..9 out of C(6,3) = 20):
    # 1 1 2 3 3 3 3 2 1 1, so P(U ≥ 7) = 4/20 and the two-sided p = 0.4.
    assert result["u"] == 7.0 and result["p_value"] == pytest.approx(0.4, abs=1e-12)
    assert result["significant"] is False and result["note"] is None
    assert result["difference"] == pytest.approx(2.625 / 3, rel=1e-12)
    assert result["spread"] == pytest.approx(math.sqrt(1878 / 1152), rel=1e-12)  # differentiable's sd
    assert result["exceeds_spread"] is False


def test_winner_all_seeds_above_gives_u_9(data: dict[str, Any]) -> None:
    # nsga2 seed 1 gets a front worth 0.875·7 = 6.125 > every differentiable run; nsga2 seeds 0
    # and 2 too (multiply their accuracies: HV scales along): all nine pairs favour nsga2.
    for run in data["runs"]:
        if run["strategy"] == "nsga2":
            run["front"] = [point(0, 0.875, 1.0, "nsga2")]
            run["hypervolume"] = 6.125 + run["seed"] * 0.125
            run["front"][0]["metrics"]["accuracy"] = run["hypervolume"] / 7.0
            run["timeline"] = [{"time_s": 1.0, "evaluations": 1, "hypervolume": run["hypervolume"]}]
    validate_compare(data)
    assert [recompute_hypervolume(r, data) for r in data["runs"][:3]] == pytest.approx([6.125, 6.25, 6.375])
    result = winner(data)
    assert result["strategy"] == "nsga2" and result["runner_up"] == "differentiable"
    # U = 9 (all 3 × 3 pairs); only U = 9 and U = 0 are as extreme: p = 2/20
    assert result["u"] == 9.0 and result["p_value"] == pytest.approx(0.1, abs=1e-12)
    assert result["significant"] is False  # 3 seeds each can never reach p < 0.05
    assert result["exceeds_spread"] is True  # 6.25 - 4.458 > 1.277


def test_the_primary_strategy_against_each_other_one(data: dict[str, Any]) -> None:
    # The first listed is the primary one: differentiable first, then nsga2 and a strategy without runs.
    data["strategies"] = ["differentiable", "nsga2", "tpe"]
    tests = against_primary(data)
    assert [t["strategy"] for t in tests] == ["nsga2", "tpe"]
    nsga2, tpe = tests
    # The same pairs as test_winner_and_mann_whitney, seen from differentiable: U = 7, p = 0.4.
    assert nsga2["u"] == 7.0 and nsga2["p_value"] == pytest.approx(0.4, abs=1e-12) and nsga2["significant"] is False
    assert nsga2["difference"] == pytest.approx(2.625 / 3, rel=1e-12)
    assert tpe["p_value"] is None and tpe["note"] == "a significance test needs at least 2 seeds per strategy"
    report = format_report_md(data)
    assert "## differentiable against each other strategy" in report
    assert "| nsga2 | 3.583 | 0.875 | 7 | 0.4 | not significant |" in report


def test_winner_with_one_strategy(data: dict[str, Any]) -> None:
    data["strategies"] = ["nsga2"]
    data["runs"] = data["runs"][:3]
    result = winner(data)
    assert (result["strategy"], result["runner_up"], result["p_value"]) == ("nsga2", None, None)
    assert result["mean"] == pytest.approx(10.75 / 3)
    assert result["note"] == "only one strategy has runs, so there is nothing to compare it with"


def test_best_points(data: dict[str, Any]) -> None:
    best = best_points(data)
    # nsga2's most accurate point is (0.875, 6) of seed 2; differentiable has 0.875 at bit
    # budget 4 in seeds 0 and 1: the earlier seed wins the tie.
    assert (best["nsga2"]["seed"], best["nsga2"]["point"]["metrics"]) == (2, {"accuracy": 0.875, "bit_budget": 6.0})
    assert (best["differentiable"]["seed"], best["differentiable"]["point"]["number"]) == (0, 1)
    limited = best_points(data, "bit_budget", 3.0)
    # ≤ 3: nsga2 has 0.5 at 2 (seed 0) and at 1 (seed 2): the cheaper wins; differentiable 0.75 at 2
    assert (limited["nsga2"]["seed"], limited["nsga2"]["point"]["metrics"]["bit_budget"]) == (2, 1.0)
    assert limited["differentiable"]["point"]["metrics"] == {"accuracy": 0.75, "bit_budget": 2.0}
    assert best_points(data, "bit_budget", 0.5) == {"nsga2": None, "differentiable": None}
    with pytest.raises(BudgetError, match="give both"):
        best_points(data, "bit_budget")


# --------------------------------------------------------------------- report
TABLE = [
    "| strategy | final hypervolume (mean ± sd) | time to 90% of best (s) | evaluations | feasible | wall time (s) |",
    "|---|---:|---:|---:|---:|---:|",
    "| nsga2 | 3.583 ± 0.9465 | - (0/3) | 4 | 75.0% | 3.75 |",
    "| differentiable | 4.458 ± 1.277 | 2.75 (2/3) | 3.333 | 75.0% | 3.333 |",
]


def test_format_report_md(data: dict[str, Any]) -> None:
    text = format_report_md(data, plots=["compare.png", "allocation_compare.png"])
    assert text == format_report_md(copy.deepcopy(data), plots=["compare.png", "allocation_compare.png"])
    lines = text.splitlines()
    assert lines[0] == "# Strategy comparison: digits_cnn on digits"
    for expected in [
        "- objectives: accuracy (maximize), bit_budget (minimize)",
        "- budget: bit_budget ≤ 6",
        "- evaluation budget: 4 evaluations per run",
        "- seeds (3): 0, 1, 2",
        "- reference point: accuracy = 0, bit_budget = 8",
        "- command: `spikebits compare --model digits_cnn --seeds 0,1,2`",
        "- versions: python 3.11.7, spikebits 0.1.0, torch 2.13.0",
        "![hypervolume against wall time, and the final fronts](compare.png)",
        "![per-layer allocation of each strategy's best point](allocation_compare.png)",
    ]:
        assert expected in lines
    start = lines.index(TABLE[0])
    assert lines[start:start + 4] == TABLE
    assert ("**differentiable** has the highest mean final hypervolume (4.458), ahead of **nsga2** (3.583). "
            "Mann-Whitney U = 7, two-sided p = 0.4 (3 and 3 seeds): not significant at the 0.05 level. "
            "The difference of the means (0.875) is not larger than the seed spread "
            "(the larger standard deviation, 1.277).") in lines
    assert "the best final hypervolume of any run (5.375)" in text
    assert text.endswith("(allocation_compare.png)\n")
    data["evaluation_budget"] = {"seconds": 600.0}
    data["budget"] = {}
    other = format_report_md(data).splitlines()
    assert "- evaluation budget: 600 s per run" in other and "- budget: none" in other
    assert not any(line.startswith("![") for line in other) and "## Figures" not in other


def test_write_report(tmp_path: Path, data: dict[str, Any]) -> None:
    out = tmp_path / "cmp"
    paths = write_report(out, data)
    assert paths == [out / "compare.png", out / "allocation_compare.png", out / "report.md"]
    assert sorted(p.name for p in out.iterdir()) == ["allocation_compare.png", "compare.png", "report.md"]
    for png in paths[:2]:
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert (out / "report.md").read_text(encoding="utf-8") == format_report_md(
        data, plots=["compare.png", "allocation_compare.png"])
    for run in data["runs"]:  # no config anywhere: no allocation figure, no link to it
        for p in run["front"]:
            p["config"] = None
    other = tmp_path / "no-configs"
    assert write_report(other, data) == [other / "compare.png", other / "report.md"]
    assert "allocation_compare.png" not in (other / "report.md").read_text(encoding="utf-8")


def test_plot_compare_draws_one_line_per_strategy(tmp_path: Path, data: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    plot_compare(tmp_path / "compare.png", data)
    fig = captured[0]
    ax_hv, ax_front = fig.axes
    solid = [line for line in ax_hv.get_lines() if line.get_linestyle() == "-"]
    assert [line.get_label() for line in solid] == ["nsga2 (median of 3)", "differentiable (median of 3)"]
    assert [line.get_color() for line in solid] == ["C0", "C1"]
    # nsga2's grid: 0, its timeline times 0.5 1 1.5 2 3 4, and the latest time 4.5 (a wall time).
    # At those times the runs stand at (0 0 0 0 3 3 4 4), (0 0 2.5 2.5 2.5 2.5 2.5 2.5) and
    # (0 0 3.5 4.25 4.25 4.25 4.25 4.25), so the median is:
    assert list(solid[0].get_xdata()) == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5]
    assert list(solid[0].get_ydata()) == [0.0, 0.0, 2.5, 2.5, 3.0, 3.0, 4.0, 4.0]
    assert all(line.get_drawstyle() == "steps-post" for line in solid)
    dashed = [line for line in ax_hv.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == pytest.approx(0.9 * 5.375)
    assert len(ax_hv.collections) == 2  # one min–max band per strategy
    assert ax_hv.get_xlabel() == "wall time (s)" and ax_hv.get_ylabel() == "hypervolume"
    # right: the fronts of all six runs, one colour per strategy; accuracy on y, the budget line on x
    assert ax_front.get_ylabel() == "validation accuracy" and ax_front.get_xscale() == "linear"
    assert ax_front.get_legend_handles_labels()[1] == [
        "nsga2 (5 points)", "differentiable (5 points)", "budget bit_budget ≤ 6"]
    stairs = [line for line in ax_front.get_lines() if line.get_linestyle() == "-"]
    assert len(stairs) == 6 and [line.get_color() for line in stairs] == ["C0"] * 3 + ["C1"] * 3
    assert fig.get_suptitle() == "digits_cnn on digits: 2 strategies, 3 seeds"


def test_plot_compare_log_axis(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # s_ace as the second objective, from 1e6 to 1e9: a log x axis
    data["objectives"] = {"accuracy": "maximize", "s_ace": "minimize"}
    data["reference_point"] = {"accuracy": 0.0, "s_ace": 1e10}
    data["budget"] = {}
    for run in data["runs"]:
        for p in run["front"]:
            p["metrics"]["s_ace"] = 10.0 ** (5 + p["metrics"]["bit_budget"] * 0.5)
    captured = capture_figures(monkeypatch)
    plot_compare(tmp_path / "compare.png", data)
    assert captured[0].axes[1].get_xscale() == "log"
    assert captured[0].axes[1].get_xlabel() == "S-ACE (bit-ops)"


def test_plot_allocation_compare(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    assert plot_allocation_compare(tmp_path / "alloc.png", data, "bit_budget", 3.0) is True
    assert (tmp_path / "alloc.png").read_bytes()[:8] == PNG_MAGIC
    fig = captured[0]
    w_ax, s_ax, t_ax = fig.axes
    # best within bit_budget ≤ 3: nsga2 (0.5, 1) -> fc W = 2; differentiable (0.75, 2) -> fc W = 3
    heights = [p.get_height() for p in w_ax.patches]
    assert heights == [8.0, 2.0, 8.0, 3.0]  # per strategy: conv1, fc
    assert [p.get_height() for p in t_ax.patches] == [1.0, 2.0, 1.0, 2.0]
    assert [t.get_text() for t in t_ax.get_xticklabels()] == ["conv1", "fc"]
    assert [t.get_text() for t in w_ax.get_legend().get_texts()] == [
        "nsga2 (seed 2, 50.00%)", "differentiable (seed 0, 75.00%)"]
    assert fig.get_suptitle() == "best point of each strategy with bit_budget ≤ 3: digits_cnn on digits"
    # nothing within 0.5: nothing written
    assert plot_allocation_compare(tmp_path / "none.png", data, "bit_budget", 0.5) is False
    assert not (tmp_path / "none.png").exists()
