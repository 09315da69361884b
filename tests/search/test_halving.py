"""Successive halving over fine-tuning epochs (ASHA's rule) for the local executor: the rung
rule against numbers worked out by hand, and a local search with a fake evaluator whose
validation accuracy after each epoch is known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikebits.evaluators.training import TrainSettings, train
from spikebits.search import EvaluatorBase, LocalExecutor, Proposal, Strategy, get_strategy, run_search
from spikebits.search.halving import SuccessiveHalving, TrialPruned
from spikebits.space import Budget, ConfigError, LayerChoice, LayerOptions, SearchSpace

OPTIONS = LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",))


def goes_on(halving: SuccessiveHalving, epoch: int, accuracies: list[float]) -> list[bool]:
    """For each accuracy in order of arrival at ``epoch``: whether that trial goes on."""
    return [halving.report(epoch, a) is None for a in accuracies]


# ---------------------------------------------------------------------------- the rule
def test_the_briefs_example_at_rung_one_with_eta_three():
    # n values recorded (own included), top ⌊n/3⌋ go on, none stopped while n < 3:
    # 0.9 (n=1) on; 0.5 (n=2) on; 0.7 (n=3, keep 1, 0.9 higher) stopped; 0.2 (n=4, keep 1) stopped.
    halving = SuccessiveHalving(3, 1, epochs=3)
    assert goes_on(halving, 1, [0.9, 0.5, 0.7, 0.2]) == [True, True, False, False]
    # 0.95 (n=5, keep 1, none higher) on; 0.92 (n=6, keep 2, only 0.95 higher) on;
    # 0.91 (n=7, keep 2, 0.95 and 0.92 higher) stopped.
    assert goes_on(halving, 1, [0.95, 0.92, 0.91]) == [True, True, False]
    assert halving.recorded == {1: [0.9, 0.5, 0.7, 0.2, 0.95, 0.92, 0.91]}
    assert halving.describe() == {
        "rule": "asha", "reduction_factor": 3, "grace_epochs": 1, "rungs": {"1": {"recorded": 7, "stopped": 3}},
    }


def test_the_stop_says_where_and_why():
    halving = SuccessiveHalving(3, 1, epochs=3)
    goes_on(halving, 1, [0.9, 0.5])
    stop = halving.report(1, 0.7)
    assert isinstance(stop, TrialPruned)
    assert (stop.epoch, stop.accuracy, stop.rank, stop.recorded) == (1, 0.7, 2, 3)
    assert stop.info() == {"pruned_epoch": 1, "pruned_accuracy": 0.7}
    assert str(stop) == (
        "stopped early by successive halving after fine-tuning epoch 1: validation accuracy 0.7000 ranks 2 of 3 at that rung, "
        "outside the top 1/3 (1 kept)"
    )


def test_eta_two_ties_go_on_and_nan_ranks_last():
    # η = 2: 0.6 (n=1) on; 0.8 (n=2, keep 1) on; 0.7 (n=3, keep 1, 0.8 higher) stopped;
    # 0.5 (n=4, keep 2, three higher) stopped; 0.75 (n=5, keep 2, only 0.8 higher) on.
    assert goes_on(SuccessiveHalving(2, 1, epochs=5), 1, [0.6, 0.8, 0.7, 0.5, 0.75]) == [True, True, False, False, True]
    # Equal values: none is strictly higher, so a tie goes on (n=2, keep 1).
    assert goes_on(SuccessiveHalving(2, 1, epochs=5), 1, [0.5, 0.5]) == [True, True]
    # A NaN accuracy ranks below every number: n=2, keep 1, 0.3 higher.
    halving = SuccessiveHalving(2, 1, epochs=5)
    assert goes_on(halving, 1, [0.3, math.nan]) == [True, False]


def test_rungs_are_grace_times_powers_of_eta_before_the_last_epoch():
    assert SuccessiveHalving(3, 1, epochs=10).rungs() == [1, 3, 9]
    assert SuccessiveHalving(3, 1, epochs=9).rungs() == [1, 3]  # the last epoch is scored in full, never a rung
    assert SuccessiveHalving(3, 1, epochs=2).rungs() == [1]
    assert SuccessiveHalving(3, 1, epochs=1).rungs() == []
    assert SuccessiveHalving(2, 2, epochs=20).rungs() == [2, 4, 8, 16]
    halving = SuccessiveHalving(3, 1, epochs=10)
    assert [e for e in range(1, 12) if halving.is_rung(e)] == [1, 3, 9]
    # Epochs that are no rung record nothing and never stop; each rung keeps its own values.
    assert goes_on(halving, 2, [0.9, 0.1, 0.1, 0.1]) == [True] * 4
    assert goes_on(halving, 1, [0.1, 0.2, 0.3]) == [True, True, True]  # rising: each is the best so far
    assert goes_on(halving, 3, [0.9, 0.8, 0.1]) == [True, True, False]
    assert halving.recorded == {1: [0.1, 0.2, 0.3], 3: [0.9, 0.8, 0.1]}
    assert halving.stopped == {3: 1}


@pytest.mark.parametrize(
    "reduction, grace, words",
    [(1, 1, "--reduction-factor must be a whole number of at least 2, not 1"), (2.5, 1, "not 2.5"), (True, 1, "not True"),
     (3, 0, "grace period of --early-stop must be a whole number of epochs of at least 1, not 0")],
)
def test_bad_settings_are_one_line_errors(reduction, grace, words):
    with pytest.raises(ConfigError, match=words):
        SuccessiveHalving(reduction, grace)
    with pytest.raises(ConfigError, match=words):
        LocalExecutor(early_stop=True, reduction=reduction, grace=grace)


def test_the_monitor_measures_at_rungs_only_and_raises_to_stop():
    halving = SuccessiveHalving(3, 1, epochs=10)
    measured: list[int] = []

    def measure(model: dict) -> float:
        measured.append(model["epoch"])
        return model["accuracy"]

    on_epoch = halving.monitor(measure)
    for accuracy in (0.9, 0.8):
        for epoch in range(1, 11):
            on_epoch(epoch, {"epoch": epoch, "accuracy": accuracy})
    assert measured == [1, 3, 9, 1, 3, 9]
    with pytest.raises(TrialPruned, match="after fine-tuning epoch 1: validation accuracy 0.5000 ranks 3 of 3"):
        on_epoch(1, {"epoch": 1, "accuracy": 0.5})


def test_an_exception_from_on_epoch_ends_training():
    # evaluators.training.train lets what on_epoch raises through: the trial stops there.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    data = TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    epochs: list[int] = []

    def on_epoch(epoch: int, _model: nn.Module) -> None:
        epochs.append(epoch)
        if epoch == 2:
            raise TrialPruned(2, 0.5, 3, 3, 3)

    with pytest.raises(TrialPruned):
        train(model, data, TrainSettings(epochs=4, batch_size=4), on_epoch=on_epoch)
    assert epochs == [1, 2]


# ---------------------------------------------------------------------------- a local search
class EpochEvaluator(EvaluatorBase):
    """No training: the i-th trial's validation accuracy after every fine-tuning epoch is
    ``rung_accuracies[i]``, its final accuracy that plus 0.01; bit_budget as W̄·S̄."""

    metric_names = ("accuracy", "bit_budget")

    def __init__(self, rung_accuracies: list[float], epochs: int = 3) -> None:
        self.space = SearchSpace.default(["first", "a", "b"], options=OPTIONS)
        self.finetune_settings = TrainSettings(epochs=epochs)
        self.rung_accuracies = list(rung_accuracies)
        self.epochs_run: list[int] = []  # per trial, the epochs it trained
        self.measured: list[int] = []  # the epochs at which validation accuracy was measured
        self.on_epoch_given: list[bool] = []

    def cost(self, config):  # noqa: ANN001, ANN201
        config = self.space.complete(config, strict=False)
        a, b = config["a"], config["b"]
        return {"bit_budget": (a.w_bits + b.w_bits) / 2 * (a.s_bits + b.s_bits) / 2}

    def validation_accuracy(self, model: dict) -> float:
        self.measured.append(model["epoch"])
        return model["accuracy"]

    def __call__(self, config, *, on_epoch=None):  # noqa: ANN001, ANN204
        accuracy = self.rung_accuracies[len(self.epochs_run)]
        self.epochs_run.append(0)
        self.on_epoch_given.append(on_epoch is not None)
        for epoch in range(1, self.finetune_settings.epochs + 1):
            self.epochs_run[-1] = epoch
            if on_epoch is not None:
                on_epoch(epoch, {"epoch": epoch, "accuracy": accuracy})
        return {"accuracy": accuracy + 0.01, **self.cost(config)}


class Fixed(Strategy):
    """Not an Optuna strategy: uniform configs, W1..W4 and S1..S2 in turn, kept in order."""

    name = "fixed"
    asked = 0

    def ask(self):  # noqa: ANN201
        choices = [LayerChoice(w, s, 1) for w in (1, 2, 4) for s in (1, 2)]
        index, self.asked = self.asked, self.asked + 1
        return Proposal(self.space.uniform(choices[index % len(choices)]), info={"index": index})


RUNG_ONE = [0.9, 0.5, 0.7, 0.2, 0.95, 0.92]  # by the rule: 0.7 and 0.2 are stopped (see the first test)


@pytest.mark.parametrize("strategy", ["random", "tpe", "fixed"])
def test_a_local_search_prunes_the_trials_that_fall_behind(strategy):
    ev = EpochEvaluator(RUNG_ONE, epochs=3)
    executor = LocalExecutor(early_stop=True)
    if strategy == "fixed":
        strategy = Fixed(ev.space, ev, Budget(), ("accuracy", "bit_budget"), n_trials=6)
    result = run_search(strategy, ev, objectives=("accuracy", "bit_budget"), n_trials=6, seed=0, executor=executor)
    records = sorted(result.records, key=lambda r: r.number)
    # PRUNED trials count towards n_trials, as on Ray: six trials in all, six evaluator calls.
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED", "COMPLETE", "COMPLETE"]
    assert ev.epochs_run == [3, 3, 1, 1, 3, 3]  # a pruned trial stops after epoch 1
    assert ev.measured == [1] * 6  # validation accuracy at the rung only
    for r in records:
        if r.state == "PRUNED":
            assert r.info["pruned_epoch"] == 1 and r.info["pruned_accuracy"] == RUNG_ONE[r.number]
            assert r.error.startswith("stopped early by successive halving after fine-tuning epoch 1")
            assert r.metrics == {} and not r.feasible
        else:  # the final epoch's full scoring, unchanged
            assert r.metrics["accuracy"] == pytest.approx(RUNG_ONE[r.number] + 0.01)
            assert "pruned_epoch" not in r.info
    if isinstance(strategy, Fixed):
        assert [r.info["index"] for r in records] == list(range(6))  # the proposal's info is kept beside
    assert all(r.state == "COMPLETE" for r in result.front)
    assert executor.describe() == {
        "name": "local", "early_stop": True,
        "successive_halving": {"rule": "asha", "reduction_factor": 3, "grace_epochs": 1, "rungs": {"1": {"recorded": 6, "stopped": 2}}},
    }


def test_without_early_stop_nothing_is_measured_or_pruned():
    ev = EpochEvaluator(RUNG_ONE, epochs=3)
    result = run_search("random", ev, objectives=("accuracy", "bit_budget"), n_trials=6, seed=0, executor=LocalExecutor())
    assert [r.state for r in result.records] == ["COMPLETE"] * 6
    assert ev.epochs_run == [3] * 6 and ev.measured == [] and ev.on_epoch_given == [False] * 6
    assert LocalExecutor().describe() == {"name": "local", "early_stop": False}


def test_early_stop_refuses_what_it_cannot_stop():
    objectives = ("accuracy", "bit_budget")
    ev = EpochEvaluator(RUNG_ONE, epochs=1)
    random = get_strategy("random")(ev.space, ev, Budget(), objectives)
    with pytest.raises(ConfigError, match="--epochs 1 leaves no such epoch: give --epochs 2 or more, or drop --early-stop"):
        LocalExecutor(early_stop=True).check(random)
    with pytest.raises(ConfigError, match="--epochs 2 leaves no such epoch: give --epochs 3 or more"):
        LocalExecutor(early_stop=True, grace=2).check(get_strategy("random")(ev.space, EpochEvaluator([], epochs=2), Budget(), objectives))
    LocalExecutor().check(random)  # without early stopping every strategy runs
    supernet = get_strategy("differentiable")(ev.space, ev, Budget(), objectives)
    with pytest.raises(ConfigError, match="the differentiable strategy runs whole supernet runs"):
        LocalExecutor(early_stop=True).check(supernet)


@pytest.mark.parametrize("strategy", ["random", "qmc"])
def test_a_pruned_search_over_membrane_bits_keeps_each_trials_u(strategy):
    # Successive halving decides on accuracy alone; the trials it runs or stops carry the
    # membrane bits U their strategy sampled (issue 30), the pinned first layer none.
    ev = EpochEvaluator(RUNG_ONE, epochs=3)
    ev.space = ev.space.searching_membrane((4, 8))
    result = run_search(strategy, ev, objectives=("accuracy", "bit_budget"), n_trials=6, seed=0, executor=LocalExecutor(early_stop=True))
    records = sorted(result.records, key=lambda r: r.number)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED", "COMPLETE", "COMPLETE"]
    for r in records:
        assert ev.space.complete(r.config) == r.config
        assert r.config["first"].u_bits is None and {r.config["a"].u_bits, r.config["b"].u_bits} <= {4, 8}
    assert {r.config[n].u_bits for r in records for n in ("a", "b")} == {4, 8}
    assert {r.config[n].u_bits for r in records if r.state == "PRUNED" for n in ("a", "b")} <= {4, 8}
