"""One-shot scoring (evaluators.oneshot): the paths the supernet trains, its cache and resume,
and the score of a config, which depends on that config alone."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from spikebits.evaluators import OneShotEvaluator, draw_config, one_shot_epochs
from spikebits.space import ConfigError, LayerChoice, LayerOptions, SearchSpace, TrainingStopped


def test_the_default_length_sees_50000_images_within_1_to_30_epochs():
    assert one_shot_epochs(1293) == 30  # digits: ⌈50000/1293⌉ = 39, capped
    assert one_shot_epochs(54000) == 1  # MNIST
    assert one_shot_epochs(20000) == 3  # ⌈2.5⌉
    assert one_shot_epochs(0) == 30


def test_a_drawn_path_is_a_function_of_seed_epoch_and_step_uniform_over_each_decision_with_pins_and_ties_kept():
    space = SearchSpace.default(
        ["first", "a", "b", "c"], options=LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform", "pow2")),
        ties=[("b", "c")],
    )
    assert draw_config(space, 0, 3, 7) == draw_config(space, 0, 3, 7)
    assert len({draw_config(space, 0, 1, s) for s in range(40)}) > 30  # 576 configs: few repeats
    counts: dict[str, Counter] = {"a": Counter(), "b": Counter()}
    n = 4800
    for step in range(n):
        config = draw_config(space, 5, 1, step)
        assert config["first"] == space.pinned["first"] and config["b"] == config["c"]
        for name in counts:
            counts[name][config[name]] += 1
    for name, count in counts.items():  # 24 choices, 200 expected each: within 5 standard deviations
        assert len(count) == 24
        assert all(abs(k - n / 24) < 5 * (n / 24 * (1 - 1 / 24)) ** 0.5 for k in count.values())


def _small(cache, **kwargs) -> OneShotEvaluator:  # noqa: ANN001
    return OneShotEvaluator(
        "digits_cnn", "digits", seed=0, epochs=1, pretrain_epochs=1, train_fraction=0.15, cache_dir=cache,
        model_kwargs={"width": 0.25}, **kwargs,
    )


def test_a_config_s_score_depends_on_that_config_alone_and_reads_no_test_split(tmp_path):
    ev = _small(tmp_path, one_shot_epochs=1, bn_batches=2)
    a = ev.space.uniform(LayerChoice(4, 2, 2, "uniform"))
    b = ev.space.uniform(LayerChoice(1, 1, 1, "pow2"))
    first = ev(a)
    ev(b)
    again = ev(a)  # BatchNorm recomputed from scratch for each config: nothing carries over
    assert first == again
    assert first["scoring"] == "one-shot" and "test_accuracy" not in first
    assert 0.0 <= first["accuracy"] <= 1.0 and first["bit_budget"] == ev.cost(a)["bit_budget"]
    # The score is the validation accuracy of the shared weights set to the config, with its
    # BatchNorm statistics those of the first bn_batches training batches at that config.
    model = ev.shared_model(a)
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert int(norm.num_batches_tracked) == min(2, math.ceil(len(ev.data.train) / 256))  # 194 images: one batch
    assert first["accuracy"] == ev.validation_accuracy(model)
    tuned = ev.finetuned(a)  # the fine-tune's score, test accuracy included
    assert "test_accuracy" in tuned and "scoring" not in tuned


def test_the_shared_weights_are_trained_once_cached_and_a_stopped_training_resumes_bit_for_bit(tmp_path):
    whole = _small(tmp_path / "whole", one_shot_epochs=2)
    expected = whole.shared_weights()
    base = whole.full_precision_model().state_dict()
    assert any(not torch.equal(expected[k], base[k]) for k in base)  # it trained
    assert whole.cache_path().exists() and not list((tmp_path / "whole").glob("*oneshot*.partial.pt"))
    assert _small(tmp_path / "whole", one_shot_epochs=2).shared_weights().keys() == expected.keys()

    lines: list[str] = []
    stopped = _small(tmp_path / "cut", one_shot_epochs=2)

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("one-shot supernet epoch 1/2"):
            stopped.stop.request("a test")

    stopped.log = log
    with pytest.raises(TrainingStopped):
        stopped.shared_weights()
    assert len(list((tmp_path / "cut").glob("*oneshot*.partial.pt"))) == 1
    resumed = _small(tmp_path / "cut", one_shot_epochs=2)
    resumed.log = lines.append
    weights = resumed.shared_weights()
    assert any("resuming" in line for line in lines)
    assert all(torch.equal(weights[k], expected[k]) for k in expected)


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="--one-shot-epochs must be 1 or more"):
        _small(tmp_path, one_shot_epochs=0)
    with pytest.raises(ConfigError, match="1 batch or more"):
        _small(tmp_path, bn_batches=0)
