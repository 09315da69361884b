"""A search scored one-shot: every strategy sees the one-shot score; afterwards exactly the
configs on the one-shot front are fine-tuned, and the run's front is theirs alone."""

from __future__ import annotations

import pytest

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.results.storage import read_trial_records
from spikebits.search import run_search
from spikebits.search.scoring import finetune_front
from spikebits.space import Budget, LayerChoice

from test_search import FakeEvaluator


class OneShotFake(FakeEvaluator):
    """FakeEvaluator whose call is a one-shot score: the fine-tuned accuracy less a penalty
    that grows with layer a's W (shared weights suit small W best), so that the one-shot
    front and the fine-tuned front differ in a way computed by hand."""

    scoring = "one-shot"

    def __init__(self) -> None:
        super().__init__()
        self.finetuned_calls: list = []

    def __call__(self, config, on_epoch=None):  # noqa: ANN001
        metrics = super().__call__(config)
        metrics["accuracy"] -= 0.01 * config["a"].w_bits
        metrics["scoring"] = "one-shot"
        return metrics

    def finetuned(self, config, on_epoch=None):  # noqa: ANN001
        self.finetuned_calls.append(config)
        metrics = FakeEvaluator.__call__(self, config)
        return {**metrics, "test_accuracy": metrics["accuracy"] - 0.001}


def test_exactly_the_one_shot_front_is_fine_tuned_and_forms_the_run_front(tmp_path):
    ev = OneShotFake()
    result = run_search("random", ev, objectives=("accuracy", "bit_budget"), n_trials=12, seed=3, out_dir=tmp_path / "run")
    scored = [r for r in result.records if r.info.get("scoring") == "one-shot"]
    tuned = [r for r in result.records if r.info.get("scoring") == "finetune"]
    assert len(scored) + len(tuned) == 12 and tuned
    # The fine-tuned ones are the front of the one-shot scores (recomputed here by hand from
    # the one-shot accuracy each fine-tuned record keeps).
    one_shot = {r.config.short(): r.metrics["accuracy"] for r in scored}
    one_shot.update({r.config.short(): r.info["one_shot_accuracy"] for r in tuned})
    cost = {r.config.short(): r.metrics["bit_budget"] for r in result.records}
    front_configs = {
        c for c in one_shot
        if not any(one_shot[d] >= one_shot[c] and cost[d] <= cost[c] and (one_shot[d], cost[d]) != (one_shot[c], cost[c]) for d in one_shot)
    }
    assert {r.config.short() for r in tuned} == front_configs and len(tuned) == len(front_configs)
    assert sorted(c.short() for c in ev.finetuned_calls) == sorted(r.config.short() for r in tuned)
    for r in tuned:  # fine-tuned metrics: the one-shot penalty is gone, test accuracy is there
        a = ev.space.complete(r.config, strict=False)["a"]
        assert r.metrics["accuracy"] == pytest.approx(r.info["one_shot_accuracy"] + 0.01 * a.w_bits)
        assert r.metrics["test_accuracy"] == pytest.approx(r.metrics["accuracy"] - 0.001)
    assert all("test_accuracy" not in r.metrics for r in scored)
    # The run's front holds fine-tuned points only, and is their front.
    assert result.front and all(r.info["scoring"] == "finetune" for r in result.front)
    stored = read_pareto_json(tmp_path / "run" / "pareto.json")
    assert len(stored["points"]) == len(result.front)
    rows = read_trials_csv(tmp_path / "run" / "trials.csv")
    assert {r["number"]: r["scoring"] for r in rows} == {r.number: r.info["scoring"] for r in result.records}
    assert all((r["one_shot_accuracy"] is None) == (r["scoring"] == "one-shot") for r in rows)
    back = {r.number: r for r in read_trial_records(tmp_path / "run" / "trials.csv")}
    assert all(back[r.number].info["scoring"] == r.info["scoring"] for r in result.records)


def test_a_fine_tuned_search_writes_no_scoring_columns(tmp_path):
    run_search("random", FakeEvaluator(), objectives=("accuracy", "bit_budget"), n_trials=3, seed=0, out_dir=tmp_path / "run")
    header = (tmp_path / "run" / "trials.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "repaired_from" and "scoring" not in header


def test_a_fine_tune_stopped_on_request_ends_the_step_and_leaves_the_rest_off_the_front():
    from spikebits.results import TrialRecord
    from spikebits.space import TrainingStopped

    class Stopping(OneShotFake):
        def finetuned(self, config, on_epoch=None):  # noqa: ANN001
            if len(self.finetuned_calls) == 1:
                raise TrainingStopped("stopped by SIGINT")
            return super().finetuned(config)

    ev = Stopping()
    # Three configs on a one-shot front of bit budget 1, 2 and 4 (a and b at W1, W2, W4, S1).
    configs = [ev.space.expand({"a": LayerChoice(w, 1, 1, "uniform"), "b": LayerChoice(w, 1, 1, "uniform")}) for w in (1, 2, 4)]
    records = [
        TrialRecord.evaluated(i, c, ev(c), strategy="random", wall_time_s=0.0, budget=Budget()) for i, c in enumerate(configs)
    ]
    out, front = finetune_front(ev, records, ("accuracy", "bit_budget"), Budget())
    # Fine-tuned in order of bit budget: the first is, the second is stopped, the third never starts.
    assert [r.info["scoring"] for r in out] == ["finetune", "one-shot", "one-shot"]
    assert out[0].metrics["accuracy"] == pytest.approx(records[0].metrics["accuracy"] + 0.01)
    assert front == [out[0]] and len(ev.finetuned_calls) == 1
