"""The driver an executor runs a strategy with: it numbers the trials, counts what was asked
and told, keeps the deadline and the stop requests, and scores what the strategy asks.

A :class:`search.Strategy` only asks and tells; whoever drives it — :class:`LocalExecutor`
in this process, :class:`search.ray_search.RayExecutor` through a Ray Tune searcher — holds a
:class:`Driver`, and nobody else keeps a count of the strategy's trials. What may stop a run
early lives in a :class:`RunControl` the caller shares with whoever stops it (the CLI's
signal handler, a comparison's wall-clock budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from spikebits.results import TrialRecord
from spikebits.search.base import Failed, Proposal, Strategy, TrialCallback, evaluate_trial, is_fatal, was_interrupted


@dataclass
class RunControl:
    """What stops a run early: ``deadline`` — a ``time.monotonic()`` after which nothing more
    is asked (trials in flight finish); :meth:`request_stop` — ask nothing more, safe to call
    from a signal handler; :meth:`fail` — ask nothing more and end the run as failed.
    ``stop_reason`` says why a run stopped early (None: it did not)."""

    deadline: float | None = None
    stop_reason: str | None = None
    #: Why the run must end as failed once its finished trials are written (a trial's data or
    #: output error, :func:`search.base.is_fatal`); None: it need not.
    failure: str | None = None

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask nothing more (the first reason stays)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def fail(self, reason: str) -> None:
        """Ask nothing more, and end the run as failed with ``reason`` (the first stays)."""
        if self.failure is None:
            self.failure = reason
        self.request_stop(f"stopped: {reason}")

    def stopped(self) -> bool:
        """Whether nothing more may be asked: a stop was requested or the deadline passed."""
        return self.stop_reason is not None or (self.deadline is not None and time.monotonic() >= self.deadline)


class Driver:
    """Drives ``strategy`` towards ``n_trials`` trials: the shared loop of the executors.

    :meth:`propose` asks the strategy (until :meth:`remaining` is 0, the deadline passes or a
    stop is requested) and numbers the answer: the strategy's own number (an Optuna trial's)
    or the count of proposals asked before it. A :class:`search.base.Failed` answer is
    recorded as a FAIL trial at once (or, interrupted, stops the run). :meth:`evaluate`
    scores a proposal with its ``scorer`` or the shared evaluator, passing ``on_epoch`` (the
    local early stopping); :meth:`tell` hands the record back and counts it; a trial whose
    training was stopped on request stops the run. :meth:`run` is the whole lifecycle in
    this process.
    """

    def __init__(
        self,
        strategy: Strategy,
        n_trials: int,
        control: RunControl | None = None,
        *,
        on_epoch: Callable[..., None] | None = None,
        callback: TrialCallback | None = None,
    ) -> None:
        self.strategy = strategy
        self.n_trials = n_trials
        self.control = control if control is not None else RunControl()
        self.on_epoch = on_epoch
        self.callback = callback
        self.asked = 0
        self.told = 0

    def remaining(self) -> int:
        """Trials still to run (the strategy's count, :meth:`Strategy.remaining`)."""
        return self.strategy.remaining(self.n_trials, self.told)

    def propose(self) -> tuple[Proposal, int] | None:
        """The next proposal and its trial number; None when nothing more is to be asked."""
        while not self.control.stopped() and self.remaining() > 0:
            answer = self.strategy.ask()
            if answer is None:
                return None
            number = answer.number if isinstance(answer, Proposal) and answer.number is not None else self.asked
            self.asked += 1
            if isinstance(answer, Proposal):
                return answer, number
            if answer.interrupted:
                self.control.request_stop(answer.reason)
                return None
            record = TrialRecord.failed(number, None, answer.reason, strategy=self.strategy.name, info=answer.info)
            self.tell(answer, record)
        return None

    def evaluate(self, proposal: Proposal, number: int) -> TrialRecord:
        """Score ``proposal`` (:func:`search.base.evaluate_trial`) as trial ``number``."""
        scorer = proposal.scorer if proposal.scorer is not None else self.strategy.evaluator
        return evaluate_trial(
            scorer, proposal.config, number, strategy=self.strategy.name, budget=self.strategy.budget, info=proposal.info,
            on_epoch=self.on_epoch,
        )

    def tell(self, proposal: Proposal | Failed, record: TrialRecord) -> None:
        """Hand ``record`` back to the strategy, count it, and report it to the callback."""
        if was_interrupted(record):  # its training was stopped: ask nothing more
            self.control.request_stop(record.error or "interrupted")
        elif is_fatal(record):  # every trial would fail alike (the data, an output)
            self.control.fail(record.error or "a data or output error")
        self.strategy.tell(proposal, record)
        self.told += 1
        if self.callback is not None:
            self.callback(record)

    def step(self) -> bool:
        """Ask, score and tell one trial; False when nothing was asked."""
        asked = self.propose()
        if asked is None:
            return False
        proposal, number = asked
        self.tell(proposal, self.evaluate(proposal, number))
        return True

    def run(self) -> list[TrialRecord]:
        """The whole lifecycle in this process; returns the strategy's records."""
        self.strategy.start()
        try:
            while self.remaining() > 0 and self.step():
                pass
        finally:
            self.strategy.finish()
        return self.strategy.records()
