"""Nothing a strategy decides may read the test split: with the test labels shuffled, the
search's choices and validation accuracies do not change; only test_accuracy does."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from spikebits.evaluators import Evaluator, datasets
from spikebits.evaluators.data import INFO, LOADERS, register_dataset
from spikebits.search import run_search
from spikebits.space import Budget, LayerOptions, SearchSpace

SHUFFLED = "digits_shuffled_test_labels"
#: A small space (8 choices per layer) keeps the sensitivity report of the ilp run short.
SPACE = SearchSpace.default(
    ["conv1", "conv2", "conv3", "fc"], (), options=LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,)), model="digits_cnn"
)


def load_shuffled(*, seed: int = 0, root=None, val_fraction: float = datasets.VAL_FRACTION) -> datasets.DataSplit:
    """digits with the same train/validation split and the test labels permuted."""
    split = datasets.load_digits(seed=seed, val_fraction=val_fraction)
    images, labels = split.test.tensors
    permuted = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(123))]
    assert (permuted != labels).float().mean() > 0.5
    return datasets.DataSplit(SHUFFLED, split.train, split.val, TensorDataset(images, permuted), split.input_shape, split.num_classes)


@pytest.fixture
def shuffled_dataset():
    register_dataset(SHUFFLED, (1, 16, 16), 10)(load_shuffled)
    yield SHUFFLED
    LOADERS.pop(SHUFFLED)
    INFO.pop(SHUFFLED)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["nsga2", "ilp", "differentiable"])
def test_shuffled_test_labels_change_no_decision(strategy, tmp_path, shuffled_dataset):
    from spikebits.search import get_strategy

    option_values = {"nsga2": {}, "ilp": {"probes": 4}, "differentiable": {"supernet_epochs": 1, "targets": "2/2/1", "probes": 4}}[strategy]
    runs = []
    for dataset in ("digits", SHUFFLED):
        torch.manual_seed(0)
        evaluator = Evaluator("digits_cnn", dataset, seed=0, epochs=1, pretrain_epochs=2, cache_dir=tmp_path / "cache", space=SPACE)
        budget = Budget.parse(["bit_budget<=3"])
        instance = get_strategy(strategy)(evaluator.space, evaluator, budget, ("accuracy", "bit_budget"), seed=0, n_trials=2, **option_values)
        result = run_search(instance, evaluator, budget=budget, objectives=("accuracy", "bit_budget"), n_trials=2, seed=0, out_dir=tmp_path / dataset)
        runs.append(result.records)
    normal, shuffled = runs
    assert len(normal) == len(shuffled) > 0
    assert [r.config for r in normal] == [r.config for r in shuffled]
    assert [r.metrics.get("accuracy") for r in normal] == [r.metrics.get("accuracy") for r in shuffled]
    assert [r.feasible for r in normal] == [r.feasible for r in shuffled]
    tested = [(a.metrics["test_accuracy"], b.metrics["test_accuracy"]) for a, b in zip(normal, shuffled) if "test_accuracy" in a.metrics]
    assert tested, "every trained trial reports test_accuracy"
    assert all(0.0 <= a <= 1.0 and 0.0 <= b <= 1.0 for a, b in tested)
    assert all(a > b + 0.3 for a, b in tested)  # the real labels score far above shuffled ones
    assert not any(math.isnan(r.metrics.get("accuracy", 0.0)) for r in normal)
