"""Every strategy on every architecture family of the seed papers (digits_cnn and resnet20
run every strategy in tests/search/test_search.py and friends; SEW-ResNet-34 is SEW-ResNet-18's
family with the ImageNet stem and more blocks, which its forward/backward, cost and export
tests cover): the Optuna samplers (random, TPE, NSGA-II),
the supernet (learnable W, S, T), SensiBoost/KurtBoost, the sensitivity measures and the
integer program, each on digits at reduced width and depth, end to end on 2 CPU cores.

One evaluator per family (module-scoped) so that the pretrained float network and the
trained configs are cached across the strategies, as a user's repeated searches share them."""

from __future__ import annotations

import math

import pytest
import torch

from spikebits.evaluators import Evaluator, datasets
from spikebits.models import build, default_space
from spikebits.space import Budget, LayerOptions

torch.set_num_threads(1)

#: Reduced widths/depths that keep each family's structure (ties, stride-2 stages, attention).
FAMILIES = {
    "resnet19": {"widths": (4, 8, 8), "blocks": (1, 1, 1), "head_width": 8},
    "sew_resnet18": {"widths": (4, 4, 8, 8), "blocks": (1, 1, 1, 1)},  # the ImageNet stem
    "vgg_dvs": {"widths": (4, 4, 8, 8, 8, 8, 8, 8)},
    "spikformer": {"embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
}
OBJECTIVES = ("accuracy", "bit_budget")


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def evaluator(request, tmp_path_factory):
    """``name`` at reduced width on digits, each layer choosing among 8 choices (W 2/4,
    S 1/2, T 1/2, uniform), so that the sensitivity measures stay cheap (every family runs
    power-of-two layers in its forward/backward test under a mixed config)."""
    name = request.param
    shape = datasets.info("digits").input_shape
    probe = build(name, num_classes=10, input_shape=shape, **FAMILIES[name])
    space = default_space(probe, LayerOptions((2, 4), (1, 2), (1, 2), ("uniform",)))
    return Evaluator(
        name, "digits", epochs=1, pretrain_epochs=1, batch_size=256, model_kwargs=FAMILIES[name], cache_dir=tmp_path_factory.mktemp(name), space=space
    )


def _check(result, evaluator, count: int | None = None) -> None:
    done = [r for r in result.records if r.state == "COMPLETE"]
    assert done, [r.error for r in result.records]
    if count is not None:
        assert len(done) == count
    for record in done:
        assert 0.0 < record.metrics["accuracy"] <= 1.0
        # the reported cost is that of the config the trial trained
        assert record.metrics["bit_budget"] == pytest.approx(evaluator.cost(record.config)["bit_budget"])


@pytest.mark.slow
def test_every_strategy_runs(evaluator):
    from spikebits.search import run_search

    _check(run_search("random", evaluator, n_trials=2, objectives=OBJECTIVES), evaluator, 2)
    for strategy in ("tpe", "nsga2"):  # the samplers see flat parameters only: one trial each
        _check(run_search(strategy, evaluator, n_trials=1, objectives=OBJECTIVES), evaluator, 1)
    supernet = run_search("differentiable", evaluator, targets="2/2/1", supernet_epochs=1, batch_size=256, objectives=OBJECTIVES)
    _check(supernet, evaluator)
    report = evaluator.sensitivity(probes=2, batches=1)
    assert list(report.layers) == evaluator.space.names
    assert all(math.isfinite(e.trace) and math.isfinite(e.activation_trace) for e in report.layers.values())
    _check(run_search("boost", evaluator, n_trials=1, objectives=OBJECTIVES, sensitivity=report), evaluator)
    ilp = run_search("ilp", evaluator, n_trials=1, objectives=OBJECTIVES, sensitivity=report, budget=Budget.parse("bit_budget<=4"))
    _check(ilp, evaluator)
    assert all(r.metrics["bit_budget"] <= 4 for r in ilp.records if r.state == "COMPLETE")
