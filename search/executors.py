"""Executors: where a strategy's trials run.

An executor drives a :class:`search.Strategy` through its lifecycle and returns its records:

* :class:`LocalExecutor` runs every trial in this process, one after the other
  (:meth:`Strategy.run`), optionally with successive halving over the fine-tuning epochs
  (``early_stop``, :mod:`search.halving`);
* :class:`search.ray_search.RayExecutor` runs the trials as Ray Tune trials, in parallel, on
  this machine or a cluster.

Both drive the strategy through a :class:`search.driver.Driver` (numbering, counting,
deadline, stop requests) and speak only the public :class:`Strategy` API (``start``, ``ask``,
``tell``, ``finish``; ``split`` and ``merge`` of a :class:`search.base.SplitStrategy`), so
every registered strategy runs on either.
"""

from __future__ import annotations

from typing import Any, Protocol

from spikebits.results import TrialRecord
from spikebits.search.base import Strategy, TrialCallback
from spikebits.search.driver import Driver, RunControl
from spikebits.search.halving import DEFAULT_GRACE, DEFAULT_REDUCTION, SuccessiveHalving
from spikebits.space import ConfigError


class Executor(Protocol):
    """Runs ``strategy`` until ``n_trials`` trials are done (or it has nothing more to try)."""

    def run(
        self, strategy: Strategy, n_trials: int, callback: TrialCallback | None = None, control: RunControl | None = None
    ) -> list[TrialRecord]: ...

    def check(self, strategy: Strategy) -> None:
        """Raise a one-line :class:`space.ConfigError` if ``strategy`` cannot run here (before any work)."""

    def describe(self) -> dict[str, Any]: ...


class LocalExecutor:
    """Every trial in this process, one after the other.

    With ``early_stop``, successive halving over the fine-tuning epochs stops the trials that
    fall behind (:class:`search.halving.SuccessiveHalving`: ASHA's rule, rungs at epochs
    ``grace``·``reduction``^k before the last, the top 1/``reduction`` of the validation
    accuracies recorded at a rung go on); a stopped trial is a PRUNED record and counts
    towards ``n_trials``, as on Ray. The rungs' values belong to one :meth:`run`.
    """

    def __init__(self, *, early_stop: bool = False, reduction: int = DEFAULT_REDUCTION, grace: int = DEFAULT_GRACE) -> None:
        self.early_stop = early_stop
        self.halving: SuccessiveHalving | None = None
        SuccessiveHalving(reduction, grace)  # a bad value is refused here, before any work
        self.reduction = reduction
        self.grace = grace

    def check(self, strategy: Strategy) -> None:
        """Every strategy runs locally; ``early_stop`` needs trials that fine-tune for more
        epochs than the first rung."""
        if not self.early_stop:
            return
        if strategy.splits:
            raise ConfigError(
                f"--early-stop stops fine-tuning epoch by epoch; the {strategy.name} strategy runs whole supernet runs (drop --early-stop)"
            )
        if strategy.evaluator.validation_accuracy is None:
            raise ConfigError("--early-stop needs an evaluator that measures validation accuracy during fine-tuning (validation_accuracy)")
        epochs = finetune_epochs(strategy)
        if epochs is not None and not SuccessiveHalving(self.reduction, self.grace, epochs).rungs():
            raise ConfigError(
                f"--early-stop stops trials after fine-tuning epoch {self.grace} at the earliest, before the last; "
                f"--epochs {epochs} leaves no such epoch: give --epochs {self.grace + 1} or more, or drop --early-stop"
            )

    def run(
        self, strategy: Strategy, n_trials: int, callback: TrialCallback | None = None, control: RunControl | None = None
    ) -> list[TrialRecord]:
        """Run ``strategy`` here until ``n_trials`` trials are done, it has nothing more to
        try, or ``control`` stops it; returns its records."""
        on_epoch = None
        if self.early_stop:
            self.check(strategy)
            self.halving = SuccessiveHalving(self.reduction, self.grace, finetune_epochs(strategy))
            on_epoch = self.halving.monitor(strategy.evaluator.validation_accuracy)
        return Driver(strategy, n_trials, control, on_epoch=on_epoch, callback=callback).run()

    def describe(self) -> dict[str, Any]:
        """``early_stop`` as on Ray; with it, ``successive_halving``: the rule's settings and, after
        a run, per rung the accuracies recorded and the trials stopped."""
        if not self.early_stop:
            return {"name": "local", "early_stop": False}
        halving = self.halving or SuccessiveHalving(self.reduction, self.grace)
        return {"name": "local", "early_stop": True, "successive_halving": halving.describe()}


def finetune_epochs(strategy: Strategy) -> int | None:
    """The fine-tuning epochs of ``strategy``'s evaluator (None when it does not say)."""
    settings = strategy.evaluator.finetune_settings
    return None if settings is None else int(settings.epochs)
