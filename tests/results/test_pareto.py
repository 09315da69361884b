"""Pareto front, hypervolume, reference point, records and the text table, on hand-worked numbers."""

from __future__ import annotations

import json
import math

import pytest

from spikebits.results import (
    RunningFront,
    TrialRecord,
    format_front_table,
    format_metric,
    hypervolume,
    pareto_front,
    reference_point,
    to_jsonable,
)
from spikebits.space import Budget, BudgetError, Config, DataError, LayerChoice


def cfg(w: int, s: int = 2, t: int = 1, scheme: str = "uniform") -> Config:
    return Config({"conv1": LayerChoice(8, 8, 1), "conv2": LayerChoice(w, s, t, scheme)})


def rec(number: int, config: Config | None = None, *, feasible: bool = True, state: str = "COMPLETE", **metrics: float) -> TrialRecord:
    return TrialRecord(
        number=number,
        config=config if config is not None else cfg(1 + number % 16, 1 + number // 16 % 16, 1 + number // 256),
        metrics=metrics,
        strategy="test",
        wall_time_s=1.0,
        feasible=feasible,
        state=state,
    )


# Four points (accuracy, bit_budget); accuracy maximized, bit budget minimized.
#   A = (0.90, 2)  B = (0.80, 1)  C = (0.70, 3)  D = (0.95, 4)
# C is dominated by A (more accurate and cheaper). Front sorted by bit budget: B, A, D.
# Hypervolume with reference (accuracy 0.0, bit_budget 5), slicing along the bit budget:
#   bit budget 1..2: best accuracy 0.80 (B)        -> 0.80 * 1 = 0.80
#   bit budget 2..4: best accuracy 0.90 (A)        -> 0.90 * 2 = 1.80
#   bit budget 4..5: best accuracy 0.95 (D)        -> 0.95 * 1 = 0.95
#   total                                                       = 3.55
TWO_D = [
    rec(0, accuracy=0.90, bit_budget=2.0),
    rec(1, accuracy=0.80, bit_budget=1.0),
    rec(2, accuracy=0.70, bit_budget=3.0),
    rec(3, accuracy=0.95, bit_budget=4.0),
]
OBJ2 = ("accuracy", "bit_budget")
REF2 = {"accuracy": 0.0, "bit_budget": 5.0}


def numbers(front: list[TrialRecord]) -> list[int]:
    return [r.number for r in front]


def test_running_front_says_what_the_whole_front_says_of_each_newest_record() -> None:
    # 600 records in small integer grids (many ties and repeated configs), some infeasible or
    # failed: after each one, RunningFront.add agrees with pareto_front of all so far.
    import random

    rng = random.Random(7)
    for objectives in (OBJ2, ("accuracy", "bit_budget", "s_ace")):
        front, told = RunningFront(objectives), []
        for number in range(300):
            metrics = {"accuracy": rng.randint(0, 6) / 6, "bit_budget": float(rng.randint(1, 6)), "s_ace": float(rng.randint(1, 4))}
            state = "FAIL" if rng.random() < 0.05 else "COMPLETE"
            record = rec(number, cfg(rng.randint(1, 3), rng.randint(1, 2)), feasible=rng.random() > 0.1, state=state,
                         **(metrics if state == "COMPLETE" else {}))
            told.append(record)
            assert front.add(record) == any(r is record for r in pareto_front(told, objectives)), number
    assert numbers(pareto_front(TWO_D, OBJ2)) == [1, 0, 3]
    running = RunningFront(OBJ2)
    assert [running.add(r) for r in TWO_D] == [True, True, False, True]


def test_front_2d_excludes_dominated_and_sorts_by_cost() -> None:
    assert numbers(pareto_front(TWO_D, OBJ2)) == [1, 0, 3]


def test_hypervolume_2d_hand_computed() -> None:
    assert hypervolume(TWO_D, OBJ2, REF2) == pytest.approx(3.55, abs=1e-12)
    # Dominated points add nothing: the front alone gives the same value.
    assert hypervolume(pareto_front(TWO_D, OBJ2), OBJ2, REF2) == pytest.approx(3.55, abs=1e-12)
    # Only B: 0.80 * (5 - 1) = 3.2.
    assert hypervolume([TWO_D[1]], OBJ2, REF2) == pytest.approx(3.2, abs=1e-12)


def test_hypervolume_ignores_points_outside_reference() -> None:
    # With reference bit_budget 3: D (bb 4) lies outside and C (bb 3) sits on the boundary.
    #   bb 1..2: 0.80 -> 0.80;  bb 2..3: 0.90 -> 0.90;  total 1.70
    assert hypervolume(TWO_D, OBJ2, {"accuracy": 0.0, "bit_budget": 3.0}) == pytest.approx(1.70, abs=1e-12)
    # Accuracy reference 0.85 keeps only A and D (B is below it):
    #   bb 2..4: (0.90 - 0.85) * 2 = 0.10;  bb 4..5: (0.95 - 0.85) * 1 = 0.10;  total 0.20
    assert hypervolume(TWO_D, OBJ2, {"accuracy": 0.85, "bit_budget": 5.0}) == pytest.approx(0.20, abs=1e-12)
    # Nothing strictly inside the reference box.
    assert hypervolume(TWO_D, OBJ2, {"accuracy": 0.99, "bit_budget": 5.0}) == 0.0
    assert hypervolume([], OBJ2, REF2) == 0.0


# Three objectives (accuracy max, bit_budget min, s_ace min), reference (0, 4, 10).
# Each point p spans the box [0, acc] x [bb, 4] x [s_ace, 10]:
#   P = (0.9, 2, 6): 0.9 * 2 * 4 = 7.2
#   Q = (0.8, 1, 8): 0.8 * 3 * 2 = 4.8
#   R = (0.5, 3, 2): 0.5 * 1 * 8 = 4.0
# Pairwise intersections (min acc, 4 - max bb, 10 - max s_ace):
#   P∩Q = 0.8 * 2 * 2 = 3.2,  P∩R = 0.5 * 1 * 4 = 2.0,  Q∩R = 0.5 * 1 * 2 = 1.0,
#   P∩Q∩R = 0.5 * 1 * 2 = 1.0
# Union = 7.2 + 4.8 + 4.0 - 3.2 - 2.0 - 1.0 + 1.0 = 10.8
# S = (0.7, 2, 8) is dominated by P; E = (0.99, 4.5, 1) is non-dominated but outside the
# reference (bb 4.5 > 4), so it is on the front but adds no volume.
OBJ3 = ("accuracy", "bit_budget", "s_ace")
REF3 = {"accuracy": 0.0, "bit_budget": 4.0, "s_ace": 10.0}
THREE_D = [
    rec(10, accuracy=0.9, bit_budget=2.0, s_ace=6.0),
    rec(11, accuracy=0.8, bit_budget=1.0, s_ace=8.0),
    rec(12, accuracy=0.5, bit_budget=3.0, s_ace=2.0),
    rec(13, accuracy=0.7, bit_budget=2.0, s_ace=8.0),
    rec(14, accuracy=0.99, bit_budget=4.5, s_ace=1.0),
]


def test_front_3d() -> None:
    assert numbers(pareto_front(THREE_D, OBJ3)) == [11, 10, 12, 14]


def test_hypervolume_3d_hand_computed() -> None:
    assert hypervolume(THREE_D, OBJ3, REF3) == pytest.approx(10.8, abs=1e-12)
    assert hypervolume(THREE_D[:2], OBJ3, REF3) == pytest.approx(8.8, abs=1e-12)


def test_infeasible_failed_pruned_and_incomplete_records_are_excluded() -> None:
    extra = [
        rec(20, accuracy=0.99, bit_budget=0.5, feasible=False),  # would dominate all
        rec(21, accuracy=0.99, bit_budget=0.5, state="FAIL"),
        rec(22, accuracy=0.99, bit_budget=0.5, state="PRUNED"),
        rec(23, accuracy=0.99, bit_budget=0.5, state="RUNNING"),
        rec(24, accuracy=0.99),  # lacks bit_budget
        rec(25, accuracy=math.nan, bit_budget=0.5),  # no finite accuracy
    ]
    assert numbers(pareto_front(TWO_D + extra, OBJ2)) == [1, 0, 3]
    assert hypervolume(TWO_D + extra, OBJ2, REF2) == pytest.approx(3.55, abs=1e-12)
    assert pareto_front(extra, OBJ2) == []


def test_ties_stay_but_repeated_config_is_kept_once() -> None:
    a = rec(0, cfg(4), accuracy=0.9, bit_budget=2.0)
    tie = rec(1, cfg(3), accuracy=0.9, bit_budget=2.0)  # same objectives, other config
    again = rec(2, cfg(4), accuracy=0.9, bit_budget=2.0)  # same config evaluated again
    cheap = rec(3, cfg(1), accuracy=0.5, bit_budget=1.0)
    assert numbers(pareto_front([a, tie, again, cheap], OBJ2)) == [3, 0, 1]
    # Equal objective vectors count once in the hypervolume: 0.5 * 1 + 0.9 * 2 = 2.3
    assert hypervolume([a, tie, again, cheap], OBJ2, {"accuracy": 0.0, "bit_budget": 4.0}) == pytest.approx(2.3)


def test_front_with_accuracy_only_sorts_best_first() -> None:
    records = [rec(0, accuracy=0.5), rec(1, accuracy=0.7), rec(2, accuracy=0.7)]
    assert numbers(pareto_front(records, ("accuracy",))) == [1, 2]
    assert hypervolume(records, ("accuracy",), {"accuracy": 0.25}) == pytest.approx(0.45)


def test_objectives_are_checked() -> None:
    with pytest.raises(BudgetError, match="unknown metric"):
        pareto_front(TWO_D, ("accuracy", "latency"))
    with pytest.raises(BudgetError, match="twice"):
        pareto_front(TWO_D, ("accuracy", "accuracy"))
    with pytest.raises(BudgetError, match="bit_budget"):
        hypervolume(TWO_D, OBJ2, {"accuracy": 0.0})


def test_reference_point() -> None:
    assert reference_point(OBJ3, {"bit_budget": 2.5, "s_ace": 1e9}) == {"accuracy": 0.0, "bit_budget": 2.5, "s_ace": 1e9}
    assert reference_point(OBJ2, {"accuracy": 0.1, "bit_budget": 3, "energy_pj": 7.0}) == {"accuracy": 0.1, "bit_budget": 3.0}
    with pytest.raises(BudgetError, match="s_ace"):
        reference_point(OBJ3, {"bit_budget": 2.5})


# ----------------------------------------------------------------------------- records
def test_record_json_round_trip() -> None:
    r = TrialRecord(
        number=7,
        config=cfg(3, 2, 4, "pow2"),
        metrics={"accuracy": 0.875, "s_ace": 123456789.0},
        strategy="nsga2",
        wall_time_s=12.5,
        feasible=False,
        violations={"bit_budget": 0.25},
        error=None,
        info={"seed": 3, "tags": ("a", "b")},
    )
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert data["config"]["layers"]["conv2"] == {"w_bits": 3, "s_bits": 2, "timesteps": 4, "scheme": "pow2"}
    back = TrialRecord.from_dict(data)
    assert back.config == r.config
    assert back.metrics == {"accuracy": 0.875, "s_ace": 123456789.0}
    assert back.violations == {"bit_budget": 0.25}
    assert back.info == {"seed": 3, "tags": ["a", "b"]}
    assert (back.number, back.strategy, back.wall_time_s, back.feasible, back.state) == (7, "nsga2", 12.5, False, "COMPLETE")


def test_failed_record_round_trip_without_config() -> None:
    r = TrialRecord(3, None, {}, "optuna", 0.5, False, state="FAIL", error="CUDA out of memory")
    back = TrialRecord.from_dict(r.to_dict())
    assert back == r


def test_record_rejects_unknown_metric_and_state() -> None:
    with pytest.raises(ValueError, match="not a metric"):
        TrialRecord(0, None, {"acc": 0.9}, "x", 0.0, True)
    with pytest.raises(ValueError, match="state"):
        TrialRecord(0, None, {}, "x", 0.0, True, state="DONE")
    with pytest.raises(DataError, match="number"):
        TrialRecord.from_dict({"strategy": "x", "feasible": True})


def test_evaluated_computes_violations_from_budget() -> None:
    budget = Budget.parse(["bit_budget<=2.0", "s_ace<=1e9"])
    r = TrialRecord.evaluated(
        5, cfg(2), {"accuracy": 0.8, "bit_budget": 2.5, "s_ace": 4e8, "basis": "estimate"},
        strategy="gumbel", wall_time_s=3.0, budget=budget,
    )
    assert r.violations == {"bit_budget": 0.5, "s_ace": 4e8 - 1e9}
    assert r.feasible is False
    assert r.info == {"basis": "estimate"}
    assert "basis" not in r.metrics
    ok = TrialRecord.evaluated(6, cfg(2), {"bit_budget": 2.0, "s_ace": 1e9}, strategy="g", wall_time_s=0, budget=budget)
    assert ok.feasible is True  # equality with the limit is feasible (violation 0)
    with pytest.raises(ValueError, match="s_ace"):
        TrialRecord.evaluated(7, cfg(2), {"bit_budget": 1.0}, strategy="g", wall_time_s=0, budget=budget)


def test_to_jsonable_converts_numpy_and_non_finite() -> None:
    np = pytest.importorskip("numpy")
    out = to_jsonable({"a": np.float32(0.5), "b": np.int64(3), "c": np.array([1, 2]), "d": math.inf, 1: (np.bool_(True),)})
    assert out == {"a": 0.5, "b": 3, "c": [1, 2], "d": None, "1": [True]}
    assert type(out["a"]) is float and type(out["b"]) is int


# ----------------------------------------------------------------------------- report
def test_format_metric() -> None:
    assert format_metric("accuracy", 0.91234) == "91.23%"
    assert format_metric("bit_budget", 1.23456) == "1.235"
    assert format_metric("s_ace", 123456789.0) == "1.23e+08"
    assert format_metric("energy_pj", 5e6) == "5.00e+06"
    assert format_metric("s_ace", None) == "-"
    assert format_metric("accuracy", math.nan) == "-"


def test_format_front_table() -> None:
    front = [
        rec(11, cfg(2, 1, 1), accuracy=0.8, bit_budget=1.0, s_ace=8.0e7),
        rec(10, cfg(4, 2, 2, "pow2"), accuracy=0.91234, bit_budget=2.0, s_ace=123456789.0),
    ]
    table = format_front_table(front, OBJ3)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "accuracy", "bit_budget", "s_ace", "strategy", "config"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["11", "80.00%", "1.000", "8.00e+07", "test", "conv1:W8S8T1", "conv2:W2S1T1"]
    assert lines[3].split() == ["10", "91.23%", "2.000", "1.23e+08", "test", "conv1:W8S8T1", "conv2:W4pS2T2"]
    assert len(lines) == 4
    # Numbers are right-aligned: the accuracy column ends at the same place in every row.
    ends = {line.index("%") for line in lines[2:]}
    assert len(ends) == 1
    assert format_front_table([], OBJ2).splitlines()[-1] == "(no feasible points)"
