"""Successive halving over fine-tuning epochs, for trials run one after the other
(:class:`search.LocalExecutor` with ``early_stop``): the stopping rule of ASHA,
asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020).

Rungs sit at the fine-tuning epochs r·η^k (k = 0, 1, 2, ...; r the grace period, η the
reduction factor) that come before the last epoch: the last epoch's full scoring is never
cut short. With the defaults r = 1, η = 3 and 10 epochs, the rungs are epochs 1, 3 and 9.

A trial that finishes a rung's epoch records its validation accuracy there. With n values
recorded at that rung by this search (its own included), ASHA's Algorithm 2 promotes the
top ⌊n/η⌋; so the trial goes on when fewer than ⌊n/η⌋ recorded values are strictly higher
than its own (ties go on), and is stopped otherwise. While n < η, ⌊n/η⌋ = 0 and ASHA would
promote no one yet and leave the trial waiting for later ones; a trial trained in place
cannot wait, so it goes on: no trial is stopped at a rung holding fewer than η values. This
is the stopping-based ("in place") use of ASHA that Ray Tune's ``ASHAScheduler`` makes too;
Ray ranks by a percentile of the values recorded before the trial, with no such minimum.

Example (η = 3, rung at epoch 1, accuracies in order of arrival 0.9, 0.5, 0.7, 0.2): 0.9
and 0.5 go on (1 and 2 values); 0.7 is stopped (3 values, top ⌊3/3⌋ = 1 kept, 0.9 is
higher); 0.2 is stopped (4 values, top 1 kept).

:class:`SuccessiveHalving` keeps the rungs' values and decides (numbers in, a yes or no
out); :meth:`SuccessiveHalving.monitor` makes the ``on_epoch(epoch, model)`` callback a
training loop calls, which measures the validation accuracy at a rung only and raises
:class:`TrialPruned` to stop; :func:`search.evaluate_trial` turns that into a PRUNED record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from spikebits.space import ConfigError

#: ASHA's defaults (Li et al. 2020): reduction factor η and grace period r (epochs).
DEFAULT_REDUCTION = 3
DEFAULT_GRACE = 1


class TrialPruned(Exception):
    """Raised from ``on_epoch`` to stop a trial's fine-tuning: its validation ``accuracy`` at
    rung ``epoch`` was not in the top 1/η there. Not an error: :func:`search.evaluate_trial`
    records the trial as PRUNED, with ``info`` (:meth:`info`) and the message as its reason."""

    def __init__(self, epoch: int, accuracy: float, rank: int, recorded: int, reduction: int) -> None:
        self.epoch = epoch
        self.accuracy = accuracy
        self.rank = rank
        self.recorded = recorded
        self.reduction = reduction
        super().__init__(
            f"stopped early by successive halving after fine-tuning epoch {epoch}: validation accuracy {accuracy:.4f} "
            f"ranks {rank} of {recorded} at that rung, outside the top 1/{reduction} ({recorded // reduction} kept)"
        )

    def info(self) -> dict[str, Any]:
        """What the PRUNED record keeps in its ``info``."""
        return {"pruned_epoch": self.epoch, "pruned_accuracy": self.accuracy}


class SuccessiveHalving:
    """ASHA's stopping rule over fine-tuning epochs (see the module docstring).

    Args:
        reduction: η, a whole number ≥ 2 (default 3): at each rung the top 1/η go on.
        grace: r, a whole number of epochs ≥ 1 (default 1): the first rung.
        epochs: the trials' fine-tuning epochs; rungs lie before the last one. None: no last
            epoch is known and every r·η^k is a rung.
    """

    def __init__(self, reduction: int = DEFAULT_REDUCTION, grace: int = DEFAULT_GRACE, epochs: int | None = None) -> None:
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 2:
            raise ConfigError(f"--reduction-factor must be a whole number of at least 2, not {reduction!r}; 3 keeps the top third at each rung")
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 1:
            raise ConfigError(f"the grace period of --early-stop must be a whole number of epochs of at least 1, not {grace!r}")
        self.reduction = reduction
        self.grace = grace
        self.epochs = epochs
        #: rung epoch → the validation accuracies recorded there, in order of arrival.
        self.recorded: dict[int, list[float]] = {}
        #: rung epoch → how many trials were stopped there.
        self.stopped: dict[int, int] = {}

    def is_rung(self, epoch: int) -> bool:
        """Whether ``epoch`` (1-based) is r·η^k for some k ≥ 0 and comes before the last epoch."""
        if epoch < self.grace or (self.epochs is not None and epoch >= self.epochs):
            return False
        rung = self.grace
        while rung < epoch:
            rung *= self.reduction
        return rung == epoch

    def rungs(self) -> list[int]:
        """The rung epochs before the last epoch (needs ``epochs``)."""
        if self.epochs is None:
            raise ValueError("the rungs of a search without a last epoch are endless; give epochs")
        out, rung = [], self.grace
        while rung < self.epochs:
            out.append(rung)
            rung *= self.reduction
        return out

    def report(self, epoch: int, accuracy: float) -> TrialPruned | None:
        """Record ``accuracy`` reached after ``epoch``; ``None`` when the trial goes on (also
        when ``epoch`` is no rung: then nothing is recorded), else the :class:`TrialPruned`
        to raise. A NaN accuracy ranks below every number."""
        if not self.is_rung(epoch):
            return None
        value = -math.inf if math.isnan(accuracy) else float(accuracy)
        values = self.recorded.setdefault(epoch, [])
        values.append(value)
        higher = sum(v > value for v in values)
        if len(values) < self.reduction or higher < len(values) // self.reduction:
            return None
        self.stopped[epoch] = self.stopped.get(epoch, 0) + 1
        return TrialPruned(epoch, accuracy, higher + 1, len(values), self.reduction)

    def monitor(self, measure: Callable[[Any], float]) -> Callable[[int, Any], None]:
        """An ``on_epoch(epoch, model)`` callback for a training loop: at a rung it measures
        ``measure(model)`` (the validation accuracy), records it and raises
        :class:`TrialPruned` when the trial is to stop; other epochs cost nothing."""

        def on_epoch(epoch: int, model: Any) -> None:
            if self.is_rung(epoch):
                stop = self.report(epoch, float(measure(model)))
                if stop is not None:
                    raise stop

        return on_epoch

    def describe(self) -> dict[str, Any]:
        """JSON-able settings and, per rung, the values recorded and the trials stopped."""
        info: dict[str, Any] = {"rule": "asha", "reduction_factor": self.reduction, "grace_epochs": self.grace}
        if self.epochs is not None:
            info["rungs"] = {
                str(r): {"recorded": len(self.recorded.get(r, [])), "stopped": self.stopped.get(r, 0)} for r in self.rungs()
            }
        return info
