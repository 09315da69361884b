"""The last step of a search scored one-shot: its front fine-tuned.

With ``--scoring one-shot`` the evaluator (:class:`evaluators.oneshot.OneShotEvaluator`)
scores every proposed config with the shared weights of one supernet: a cheap score that
ranks configs, not the accuracy a config reaches. Every strategy sees that score alike.
After the strategy has run, each config on the front of the one-shot scores is fine-tuned and
scored in full, test accuracy included (:meth:`OneShotEvaluator.finetuned`, the fine-tuning
evaluator's score); its record takes the fine-tuned metrics, with ``scoring: "finetune"`` and
its ``one_shot_accuracy`` in ``info``. The run's front is the front of these fine-tuned
records alone; every other record keeps its one-shot score (``scoring: "one-shot"`` in
``trials.csv``), so no reported point mixes the two. A supernet strategy's records of its own
trained networks (``info["network"] == "supernet"``) are scored in full already: they are
kept as they are and join the front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spikebits.results import TrialRecord, pareto_front
from spikebits.search.base import ConfigEvaluator, evaluate_trial, was_interrupted
from spikebits.space import Budget
from spikebits.space.metrics import ACCURACY

#: The ``scoring`` a strategy's evaluator declares when its score is not a fine-tune.
ONE_SHOT = "one-shot"


def scored_one_shot(evaluator: ConfigEvaluator) -> bool:
    """Whether ``evaluator`` scores configs one-shot (its front must be fine-tuned)."""
    return evaluator.scoring == ONE_SHOT


def finetune_front(
    evaluator: Any, records: Sequence[TrialRecord], objectives: Sequence[str], budget: Budget, *, log: Any = None
) -> tuple[list[TrialRecord], list[TrialRecord]]:
    """Fine-tune the configs on the front of the one-shot ``records`` with
    ``evaluator.finetuned``; returns (the records with those replaced, the front of the
    fine-tuned ones). A fine-tune stopped on request (SIGINT, SIGTERM) ends the step: the
    configs not fine-tuned by then keep their one-shot records and stay off the front."""
    out = list(records)
    where = {r.number: i for i, r in enumerate(out)}
    # A supernet strategy's handed-on networks were scored in full already (test accuracy included).
    tuned: list[TrialRecord] = [r for r in out if r.info.get("network") == "supernet" and r.state == "COMPLETE"]
    final = {r.number for r in tuned}
    chosen = pareto_front([r for r in out if r.number not in final], objectives)
    if log is not None and chosen:
        log(f"fine-tuning the {len(chosen)} config(s) on the one-shot front")
    for record in chosen:
        info = {**record.info, "scoring": "finetune", "one_shot_accuracy": record.metrics.get(ACCURACY.name)}
        new = evaluate_trial(evaluator.finetuned, record.config, record.number, strategy=record.strategy, budget=budget, info=info)
        if was_interrupted(new):
            break
        out[where[record.number]] = new
        tuned.append(new)
    return out, pareto_front(tuned, objectives)
