"""The figures of a supernet search: the average bits of each run over training, with its
target, and each run's final per-layer allocation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spikebits.space import BitTargets, Config


def draw_supernet_figures(
    out_dir: Path, name: str, runs: Sequence[tuple[BitTargets, list]], configs: Sequence[Config | None]
) -> list[Path]:
    """``bit_trajectories.png`` (average bits of each supernet run, with its target) and
    ``allocation.png`` (each run's final config per layer) in ``out_dir``; returns them."""
    from spikebits.results import plot_allocation, plot_bit_trajectories

    series = [{"label": f"target {target}", "targets": target.to_dict(), "history": history} for target, history in runs]
    allocations = [
        {"label": f"target {target}", "layers": {n: c.to_dict() for n, c in config.layers.items()}}
        for (target, _), config in zip(runs, configs)
        if config is not None
    ]
    paths = [out_dir / "bit_trajectories.png", out_dir / "allocation.png"]
    plot_bit_trajectories(paths[0], series, title=f"{name}: average bits during supernet training")
    plot_allocation(paths[1], allocations, title=f"{name}: final per-layer allocation")
    return paths
