"""pareto.png: a valid PNG, written atomically; axis choices. Bit trajectories and per-layer
allocations: the series drawn, valid PNGs, nothing written for empty input."""

from __future__ import annotations

from pathlib import Path

import math

import matplotlib.image
import pytest
from matplotlib.figure import Figure

import spikebits.results.plots as plots
from figure_spy import capture_figures

from spikebits.results import TrialRecord, pareto_front, plot_allocation, plot_bit_trajectories, plot_front
from spikebits.space import Budget, BudgetError, Config, ConfigError, LayerChoice

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
    captured = capture_figures(monkeypatch)
    front = pareto_front(RECORDS, ("accuracy", "s_ace"))
    plot_front(tmp_path / "p.png", RECORDS, front, x="s_ace", budget=Budget.parse(["s_ace<=1e9", "bit_budget<=3"]))
    (ax,) = captured[0].axes
    assert ax.get_xscale() == "log"  # 1e7 .. 9e9 spans far more than 20
    assert ax.get_xlabel() == "S-ACE (bit-ops)"
    assert ax.get_ylabel() == "validation accuracy"
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


def read_png(path: Path) -> tuple[int, int]:
    """Check the signature, read the picture back with matplotlib, return (width, height)."""
    data = path.read_bytes()
    width, height = png_size(data)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    assert image.shape[2] in (3, 4)
    assert image.min() < image.max()  # not a blank canvas
    return width, height


def history(*points: tuple[float, float, float, float]) -> list[dict[str, float]]:
    return [{"step": 10 * i, "epoch": e, "w_bits": w, "s_bits": s, "timesteps": t}
            for i, (e, w, s, t) in enumerate(points)]


RUNS = [
    {"label": "target 2/2/1", "targets": {"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0},
     "history": history((0.0, 7.8, 3.9, 3.5), (0.5, 5.0, 3.0, 2.0), (1.0, 2.1, 2.2, 1.1))},
    {"label": "target 4/None", "targets": {"w_bits": 4.0, "s_bits": None},
     "history": history((0.0, 8.0, 4.0, 4.0), (1.0, 4.2, 3.1, 2.5))},
    {"label": "no targets", "history": [{"step": 0, "epoch": 0.0, "w_bits": 6.0, "s_bits": None},
                                        {"step": 5, "epoch": 2.0, "w_bits": 5.0, "s_bits": 3.0}]},
    {"label": "empty", "targets": {"w_bits": 1.0}, "history": []},
]


def test_trajectory_series_follows_the_input() -> None:
    series = plots.trajectory_series(RUNS)
    assert list(series) == ["w_bits", "s_bits", "timesteps"]
    w = series["w_bits"]
    assert [t.label for t in w] == ["target 2/2/1", "target 4/None", "no targets"]
    assert [t.run for t in w] == [0, 1, 2] and [t.color for t in w] == ["C0", "C1", "C2"]
    assert w[0].epochs == (0.0, 0.5, 1.0) and w[0].values == (7.8, 5.0, 2.1)
    assert [t.target for t in w] == [2.0, 4.0, None]
    s = series["s_bits"]
    assert [t.target for t in s] == [2.0, None, None]
    assert s[2].epochs == (2.0,) and s[2].values == (3.0,)  # the None point is left out
    t = series["timesteps"]
    assert [x.label for x in t] == ["target 2/2/1", "target 4/None"]  # run 3 logged no T
    assert t[1].values == (4.0, 2.5) and t[1].target is None
    unnamed = plots.trajectory_series([{"history": []}, {"history": history((0.0, 3.0, 2.0, 1.0))}])
    assert unnamed["w_bits"][0].label == "run 2" and unnamed["w_bits"][0].color == "C1"


def test_plot_bit_trajectories_writes_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    path = tmp_path / "out" / "bits.png"
    plot_bit_trajectories(path, RUNS)
    assert read_png(path) == (1280, 420)
    assert [p.name for p in path.parent.iterdir()] == ["bits.png"]
    fig = captured[0]
    assert fig.get_suptitle() == "bit widths during training: 3 runs"
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "average weight bits W̄", "average spike bits S̄", "average time steps T̄"]
    assert all(ax.get_xlabel() == "epoch" for ax in axes)
    solid = [line for line in axes[0].get_lines() if line.get_linestyle() == "-"]
    assert [list(line.get_xdata()) for line in solid] == [[0.0, 0.5, 1.0], [0.0, 1.0], [0.0, 2.0]]
    assert list(solid[0].get_ydata()) == [7.8, 5.0, 2.1]
    for ax, targets in zip(axes, ([2.0, 4.0], [2.0], [1.0])):
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert [line.get_ydata()[0] for line in dashed] == targets
    # each target line has its run's colour
    dashed_w = [line for line in axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [line.get_color() for line in dashed_w] == [solid[0].get_color(), solid[1].get_color()]
    legend = axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["target 2/2/1", "target 4/None", "no targets", "target"]
    assert axes[1].get_legend() is None and axes[2].get_legend() is None


def test_plot_bit_trajectories_title_and_no_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    path = tmp_path / "bits.png"
    plot_bit_trajectories(path, [{"label": "free", "history": history((0.0, 8.0, 8.0, 4.0))}], title="run A")
    read_png(path)
    fig = captured[0]
    assert fig.get_suptitle() == "run A"
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["free"]
    assert not [line for ax in fig.axes for line in ax.get_lines() if line.get_linestyle() == "--"]


def test_plot_bit_trajectories_nothing_to_draw(tmp_path: Path) -> None:
    plot_bit_trajectories(tmp_path / "none.png", [])
    plot_bit_trajectories(tmp_path / "empty.png", [{"label": "a", "targets": {"w_bits": 2.0}, "history": []},
                                                   {"label": "b"}])
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"old picture")
    plot_bit_trajectories(kept, [])
    assert kept.read_bytes() == b"old picture"


def layer(w: int, s: int, t: int, scheme: str = "uniform") -> dict[str, object]:
    return {"w_bits": w, "s_bits": s, "timesteps": t, "scheme": scheme}


ALLOCATIONS = [
    {"label": "target 2/2/1", "layers": {"conv1": layer(8, 8, 1), "conv2": layer(2, 3, 1, "pow2"),
                                         "fc": layer(4, 2, 2)}},
    {"label": "target 4/4/2", "layers": {"conv1": layer(8, 8, 1), "conv2": layer(4, 4, 2),
                                         "fc": layer(3, 1, 3, "pow2")}},
]


def test_allocation_series_follows_the_input() -> None:
    layers, series = plots.allocation_series(ALLOCATIONS)
    assert layers == ("conv1", "conv2", "fc")
    assert list(series) == ["w_bits", "s_bits", "timesteps"]
    assert [b.label for b in series["w_bits"]] == ["target 2/2/1", "target 4/4/2"]
    assert [b.color for b in series["s_bits"]] == ["C0", "C1"]
    assert [b.values for b in series["w_bits"]] == [(8, 2, 4), (8, 4, 3)]
    assert [b.values for b in series["s_bits"]] == [(8, 3, 2), (8, 4, 1)]
    assert [b.values for b in series["timesteps"]] == [(1, 1, 2), (1, 2, 3)]
    assert [b.pow2 for b in series["w_bits"]] == [(False, True, False), (False, False, True)]
    assert [b.pow2 for b in series["s_bits"]] == [(False,) * 3] * 2  # the scheme is about weights


def test_allocation_series_layer_choices_missing_values_and_mismatch() -> None:
    layers, series = plots.allocation_series([
        {"layers": {}},
        {"layers": {"a": LayerChoice(2, 3, 1, "pow2"), "b": {"w_bits": 5, "s_bits": None}}},
    ])
    assert layers == ("a", "b")
    (w,) = series["w_bits"]
    assert w.label == "allocation 2" and w.color == "C1" and w.pow2 == (True, False)
    assert w.values == (2, 5)
    assert series["s_bits"][0].values[0] == 3 and math.isnan(series["s_bits"][0].values[1])
    assert math.isnan(series["timesteps"][0].values[1])
    # same layers in another order: drawn in the first allocation's order
    _, series = plots.allocation_series([
        {"layers": {"a": layer(1, 2, 3), "b": layer(4, 5, 6)}},
        {"layers": {"b": layer(7, 8, 9), "a": layer(2, 2, 2)}},
    ])
    assert series["w_bits"][1].values == (2, 7)
    with pytest.raises(ConfigError, match="same|one model"):
        plots.allocation_series([{"label": "x", "layers": {"a": layer(1, 1, 1)}},
                                 {"label": "y", "layers": {"b": layer(1, 1, 1)}}])


def test_plot_allocation_writes_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    path = tmp_path / "out" / "allocation.png"
    plot_allocation(path, ALLOCATIONS)
    assert read_png(path) == (640, 720)
    assert [p.name for p in path.parent.iterdir()] == ["allocation.png"]
    fig = captured[0]
    assert fig.get_suptitle() == "per-layer allocation: 2 allocations, 3 layers"
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["weight bits W", "spike bits S", "time steps T"]
    heights = [[patch.get_height() for patch in ax.patches] for ax in axes]
    assert heights == [[8, 2, 4, 8, 4, 3], [8, 3, 2, 8, 4, 1], [1, 1, 2, 1, 2, 3]]
    # bars of one layer sit side by side around the layer's tick
    w_patches = axes[0].patches
    centers = [patch.get_x() + patch.get_width() / 2 for patch in w_patches]
    assert centers == pytest.approx([-0.2, 0.8, 1.8, 0.2, 1.2, 2.2])
    assert [patch.get_hatch() for patch in w_patches] == [None, "//", None, None, None, "//"]
    assert not [patch for ax in axes[1:] for patch in ax.patches if patch.get_hatch()]
    legend = axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["target 2/2/1", "target 4/4/2", "power-of-two weights"]
    # the allocations' entries show their colour only; the hatch has its own entry
    assert [handle.get_hatch() for handle in legend.legend_handles] == [None, None, "//"]
    assert [handle.get_facecolor() for handle in legend.legend_handles[:2]] == [
        w_patches[0].get_facecolor(), w_patches[3].get_facecolor()]
    ticks = axes[-1].get_xticklabels()
    assert [label.get_text() for label in ticks] == ["conv1", "conv2", "fc"]
    assert all(label.get_rotation() == 0 for label in ticks)


def test_plot_allocation_many_layers_rotates_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = capture_figures(monkeypatch)
    names = ["conv1", *(f"layer{i}.{b}.conv{j}" for i in (1, 2, 3) for b in (0, 1, 2) for j in (1, 2)),
             "layer2.0.shortcut", "layer3.0.shortcut", "fc"]
    assert len(names) == 22  # ResNet-20
    path = tmp_path / "resnet.png"
    plot_allocation(path, [{"label": "uniform", "layers": {n: layer(4, 2, 1) for n in names}}], title="ResNet-20")
    width, height = read_png(path)
    assert width > 640 and height == 720
    fig = captured[0]
    assert fig.get_suptitle() == "ResNet-20"
    ticks = fig.axes[-1].get_xticklabels()
    assert len(ticks) == 22 and all(label.get_rotation() == 60 for label in ticks)
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["uniform"]  # no pow2: no hatch entry


def test_plot_allocation_nothing_to_draw(tmp_path: Path) -> None:
    plot_allocation(tmp_path / "none.png", [])
    plot_allocation(tmp_path / "empty.png", [{"label": "a", "layers": {}}, {"label": "b"}])
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"old picture")
    plot_allocation(kept, [])
    assert kept.read_bytes() == b"old picture"


def test_failed_allocation_plot_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "allocation.png"
    path.write_bytes(b"old picture")

    def broken(self: Figure, *args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer exploded"):
        plot_allocation(path, ALLOCATIONS)
    with pytest.raises(RuntimeError, match="renderer exploded"):
        plot_bit_trajectories(path, RUNS)
    assert path.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["allocation.png"]


def test_plot_shows_the_fronts_test_accuracy_beside_it(tmp_path, monkeypatch):
    import dataclasses

    captured = capture_figures(monkeypatch)
    records = [dataclasses.replace(r, metrics={**r.metrics, "test_accuracy": r.metrics["accuracy"] - 0.05}) if r.metrics.get("accuracy") is not None else r for r in RECORDS]
    front = pareto_front(records, ("accuracy", "s_ace"))
    plot_front(tmp_path / "p.png", records, front, x="s_ace")
    (ax,) = captured[0].axes
    handles, labels = ax.get_legend_handles_labels()
    assert labels[-1] == "front on the test split"
    offsets = handles[-1].get_offsets()
    expected = sorted((r.metrics["s_ace"], r.metrics["accuracy"] - 0.05) for r in front)
    got = sorted(map(tuple, offsets.tolist()))
    assert [x for x, _ in got] == [x for x, _ in expected]
    assert [y for _, y in got] == pytest.approx([y for _, y in expected])
