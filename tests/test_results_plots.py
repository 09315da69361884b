"""pareto.png: a valid PNG, written atomically; axis choices."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

import results.plots as plots
from results import TrialRecord, pareto_front, plot_front
from space import Budget, BudgetError, Config, LayerChoice

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rec(n: int, acc: float, bb: float, s_ace: float, *, feasible: bool = True, state: str = "COMPLETE") -> TrialRecord:
    config = Config({"conv1": LayerChoice(8, 8, 1), "fc": LayerChoice(1 + n % 16, 1 + n // 16, 1)})
    return TrialRecord(n, config, {"accuracy": acc, "bit_budget": bb, "s_ace": s_ace}, "test", 0.1, feasible, state=state)


RECORDS = [
    rec(0, 0.90, 2.0, 4e8),
    rec(1, 0.80, 1.0, 1e8),
    rec(2, 0.70, 3.0, 6e8),
    rec(3, 0.95, 4.0, 9e9, feasible=False),
    rec(4, 0.50, 0.5, 1e7),
    rec(5, 0.99, 0.1, 1e6, state="FAIL"),
]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_front_writes_png(tmp_path: Path) -> None:
    front = pareto_front(RECORDS, ("accuracy", "bit_budget"))
    assert [r.number for r in front] == [4, 1, 0]
    path = tmp_path / "out" / "pareto.png"
    plot_front(path, RECORDS, front, x="bit_budget", budget=Budget.parse("bit_budget<=3"))
    assert png_size(path.read_bytes()) == (640, 480)
    assert [p.name for p in path.parent.iterdir()] == ["pareto.png"]


def test_plot_front_log_axis_and_empty(tmp_path: Path) -> None:
    front = pareto_front(RECORDS, ("accuracy", "s_ace"))
    plot_front(tmp_path / "s_ace.png", RECORDS, front, x="s_ace", title="S-ACE")
    assert (tmp_path / "s_ace.png").read_bytes()[:8] == PNG_MAGIC
    plot_front(tmp_path / "empty.png", [], [], x="energy_pj")
    assert (tmp_path / "empty.png").read_bytes()[:8] == PNG_MAGIC


def test_use_log_scale() -> None:
    assert plots.use_log_scale("s_ace", [1e6, 1e8]) is True
    assert plots.use_log_scale("s_ace", [1.0, 20.0]) is False  # a factor 20 exactly is not more than 20
    assert plots.use_log_scale("s_ace", [1.0, 20.5]) is True
    assert plots.use_log_scale("bit_budget", [0.1, 100.0]) is False
    assert plots.use_log_scale("energy_pj", []) is False


def test_step_direction() -> None:
    assert plots.step_where("bit_budget") == "steps-post"
    assert plots.step_where("accuracy") == "steps-pre"


def test_plot_draws_the_expected_artists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[Figure] = []
    real_savefig = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        captured.append(self)
        real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    front = pareto_front(RECORDS, ("accuracy", "s_ace"))
    plot_front(tmp_path / "p.png", RECORDS, front, x="s_ace", budget=Budget.parse(["s_ace<=1e9", "bit_budget<=3"]))
    (ax,) = captured[0].axes
    assert ax.get_xscale() == "log"  # 1e7 .. 9e9 spans far more than 20
    assert ax.get_xlabel() == "S-ACE (bit-ops)"
    assert ax.get_ylabel() == "accuracy"
    labels = ax.get_legend_handles_labels()[1]
    # 4 feasible finished trials (the FAIL one is left out), 1 over budget, front of 3.
    assert labels == ["trials (4)", "over budget (1)", "Pareto front (3)", "budget s_ace ≤ 1e+09"]
    lines = [line for line in ax.get_lines() if line.get_drawstyle() == "steps-post"]
    assert len(lines) == 1
    assert list(lines[0].get_xdata()) == [1e7, 1e8, 4e8]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_xdata()) == [1e9, 1e9]


def test_failed_plot_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pareto.png"
    path.write_bytes(b"old picture")

    def broken(self: Figure, *args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer exploded"):
        plot_front(path, RECORDS, [], x="bit_budget")
    assert path.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png"]


def test_unknown_axis_raises_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "pareto.png"
    path.write_bytes(b"old picture")
    with pytest.raises(BudgetError, match="latency"):
        plot_front(path, RECORDS, [], x="latency")
    with pytest.raises(BudgetError, match="two different"):
        plot_front(path, RECORDS, [], x="accuracy", y="accuracy")
    assert path.read_bytes() == b"old picture"
