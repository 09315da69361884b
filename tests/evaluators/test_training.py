"""Real training on real data: the full-precision digits_cnn and a fine-tuned W4/S2/T1 config."""

from __future__ import annotations

import pytest

from spikebits.evaluators import cost_metrics
from spikebits.space import LayerChoice


@pytest.mark.slow
def test_full_precision_and_w4s2t1_on_digits(digits_evaluator):
    ev = digits_evaluator
    state, fp_accuracy = ev.pretrained()
    assert fp_accuracy >= 0.95, fp_accuracy
    # The cached checkpoint is reused, not retrained.
    assert ev.pretrained()[1] == fp_accuracy
    config = ev.space.uniform(LayerChoice(4, 2, 1, "uniform"))
    metrics = ev.score(ev.finetune(config, epochs=5))
    assert metrics["accuracy"] >= fp_accuracy - 0.02, (metrics, fp_accuracy)
    assert 0.0 < metrics["firing_rate"] < 1.0


@pytest.mark.slow
def test_evaluator_returns_fixed_keys_and_cost_matches(digits_evaluator):
    ev = digits_evaluator
    config = ev.space.uniform(LayerChoice(2, 1, 2, "pow2"))
    metrics = ev(config)
    assert set(metrics) == set(ev.metric_names)
    assert {k: metrics[k] for k in cost_metrics(ev.specs, config, ev.space)} == cost_metrics(ev.specs, config, ev.space)
    assert 0.5 < metrics["accuracy"] <= 1.0
