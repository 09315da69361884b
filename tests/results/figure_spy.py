"""Record the matplotlib figures a plotting function saves (shared by the results tests)."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure


def capture_figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Record every figure saved from now on (and still save it)."""
    captured: list[Figure] = []
    real_savefig = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        captured.append(self)
        real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return captured
