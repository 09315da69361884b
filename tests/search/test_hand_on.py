"""The supernet strategies hand on the network they trained: released as a plain network at
the fitted config, it loads into a fresh model and computes the same; its settings (the
paper's recipe, the per-target coefficients, the learning window, the rounding hysteresis)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from spikebits.models import Supernet, apply_config, build, checkpoint_bytes, default_space, layer_specs
from spikebits.models.quantizers import held_bits, snap_to_options
from spikebits.results import TrialRecord, pareto_front
from spikebits.search.differentiable import (
    PAPER_RECIPE,
    DifferentiableOptions,
    GumbelOptions,
    learning_steps,
    paper_lambdas,
    supernet_optimizer,
    train_supernet,
)
from spikebits.search.scoring import finetune_front
from spikebits.search.supernet_network import decode_network, encode_network, hand_on
from spikebits.space import BitTargets, Budget, Config, ConfigError, LayerChoice


# ---------------------------------------------------------------------------- rounding
def test_held_bits_keeps_its_value_until_the_threshold_is_passed_by_the_margin():
    b = lambda x: torch.tensor(x)  # noqa: E731
    # Plain rounding without a current value or a margin.
    assert held_bits(b(2.55), 1, 4, None, None, 0.1) == 3 and held_bits(b(2.55), 1, 4, None, 2, 0.0) == 3
    # From 2: 3 only past 2.5 + 0.1 (|x − 2| − |x − 3| = 2x − 5 > 0.2).
    assert held_bits(b(2.59), 1, 4, None, 2, 0.1) == 2 and held_bits(b(2.61), 1, 4, None, 2, 0.1) == 3
    # From 3 back down: 2 only below 2.4.
    assert held_bits(b(2.41), 1, 4, None, 3, 0.1) == 3 and held_bits(b(2.39), 1, 4, None, 3, 0.1) == 2
    # Options with a gap (S 1, 2, 4): the threshold between 2 and 4 is 3, so 4 from 3.1 on.
    assert held_bits(b(3.09), 1, 4, (1, 2, 4), 2, 0.1) == 2 and held_bits(b(3.11), 1, 4, (1, 2, 4), 2, 0.1) == 4
    # A value far from the current one is taken at once; B̂ is clipped to the range first.
    assert held_bits(b(1.0), 1, 4, None, 4, 0.1) == 1 and held_bits(b(9.0), 1, 4, None, 1, 0.1) == 4
    # A value fixed at an integer (Supernet.fix) is taken whatever the margin.
    assert held_bits(b(2.0), 1, 4, None, 3, 0.49) == 2


def test_snap_to_options_takes_the_nearest_and_the_smaller_on_a_tie():
    x = torch.tensor([0.7, 1.4, 1.6, 2.9, 3.0, 3.1, 5.0])
    assert snap_to_options(x, (1, 2, 4)).tolist() == [1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0]


# ---------------------------------------------------------------------------- settings
def test_the_released_codes_coefficients_per_target():
    assert paper_lambdas(BitTargets(1, 1, 1)) == (0.04, 0.04, 0.01)
    assert paper_lambdas(BitTargets(2, 2, 1)) == (0.04, 0.04, 0.01)
    assert paper_lambdas(BitTargets(4, 4, 1)) == (0.01, 0.02, 0.01)
    assert paper_lambdas(BitTargets(3, 2.5, 2)) == (0.01, 0.04, 0.01)
    assert DifferentiableOptions(lambdas=(0.1, 0.2, 0.3)).lambdas_for(BitTargets(4, 4, 1)) == (0.1, 0.2, 0.3)


def test_the_late_window_lies_in_the_steps_in_which_the_bits_learn():
    assert learning_steps("cosine", 100, 0.2) == 100 and learning_steps("constant", 100, 0.2) == 100
    assert learning_steps("freeze", 100, 0.2) == 80  # the last 20 steps are frozen: the window ends at step 80


def test_recipe_paper_sets_every_listed_setting():
    options = DifferentiableOptions(recipe="paper")
    assert PAPER_RECIPE == {
        "optimizer": "sgd", "supernet_lr": 0.1, "bits_lr": 0.1, "timesteps_lr": 0.01, "weight_decay": 1e-4,
        "bits_schedule": "cosine", "batch_size": 128, "supernet_epochs": 200,
    }
    for name, value in PAPER_RECIPE.items():
        assert getattr(options, name) == value, name
    assert options.learning_rates() == (0.1, 0.1, 0.01)
    assert (options.init_bits, options.bits_above, options.timesteps_above, options.renewal) == (None, 2, 1, "spikes")  # start 4/4/2
    assert options.lambdas is None and options.lambdas_for(BitTargets(1, 1, 1)) == (0.04, 0.04, 0.01)
    # A value the recipe also sets is accepted; another one is a one-line error.
    assert DifferentiableOptions(recipe="paper", batch_size=128).batch_size == 128
    with pytest.raises(ConfigError, match="recipe paper sets batch_size to 128; drop --batch-size 64 or --recipe"):
        DifferentiableOptions(recipe="paper", batch_size=64)
    # Without the recipe the plain defaults: adam, cosine, batch 64, no weight decay with adam.
    plain = DifferentiableOptions()
    assert (plain.optimizer, plain.bits_schedule, plain.batch_size, plain.weight_decay) == ("adam", "cosine", 64, 0.0)
    assert DifferentiableOptions(optimizer="sgd").weight_decay == 1e-4


def test_the_recipes_optimizer_decays_the_weights_only():
    model = build("digits_cnn")
    space = default_space(model)
    apply_config(model, space.uniform(LayerChoice(4, 4, 2, "uniform")))
    net = Supernet(model, space, layer_specs(model), bits_above=2, timesteps_above=1)
    optimizer = supernet_optimizer(net, DifferentiableOptions(recipe="paper"))
    assert isinstance(optimizer, torch.optim.SGD)
    groups = optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.1, 0.1, 0.01, 0.1] and all(g["momentum"] == 0.9 for g in groups)
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0, 0.0, 0.0]
    decayed = {id(p) for p in groups[0]["params"]}
    synapses = {id(layer.synapse.weight) for layer in model.spiking_layers().values()}
    assert synapses <= decayed and all(p.ndim > 1 for p in groups[0]["params"])
    assert {id(p) for p in net.arch_params} == {id(p) for g in groups[1:3] for p in g["params"]}
    every = [id(p) for g in groups for p in g["params"]]
    assert len(every) == len(set(every)) == len([p for p in model.parameters() if p.requires_grad])


# ---------------------------------------------------------------------------- hand-on
def _same_network(evaluator, model: torch.nn.Module, config: Config) -> torch.nn.Module:
    """``model``'s checkpoint loaded into a fresh model set to ``config``."""
    data = torch.load(io.BytesIO(checkpoint_bytes(model, config)), weights_only=True)
    assert Config.from_json(data["config"]) == config
    fresh = apply_config(evaluator.new_model(), config)
    fresh.load_state_dict(data["state_dict"])  # strict: the same keys and shapes
    return fresh.eval()


@pytest.mark.parametrize("gumbel", [False, True])
def test_the_handed_on_network_is_the_supernets_and_loads_into_a_fresh_model(digits_evaluator, gumbel):
    ev = digits_evaluator
    options = (GumbelOptions if gumbel else DifferentiableOptions)(supernet_epochs=2)
    run = train_supernet(ev, BitTargets(2, 2, 1), options, seed=0, gumbel=gumbel)
    model = hand_on(run.supernet, run.config, run.config, ev)
    assert not any(k.endswith(("bits_param", "timesteps_param", "logits")) for k in model.state_dict())
    assert ev.validation_accuracy(model) == run.supernet_accuracy  # the supernet's own score, unchanged by the release
    fresh = _same_network(ev, model, run.config)
    x = ev.data.val.tensors[0][:64]
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    # Through a Ray part's outcome (base64 text) it comes back the same.
    back = decode_network(encode_network(model, run.config), ev)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_a_config_moved_after_training_is_handed_on_at_the_moved_config(digits_evaluator):
    ev = digits_evaluator
    run = train_supernet(ev, BitTargets(2, 2, 1), DifferentiableOptions(supernet_epochs=2), seed=0)
    moved = ev.space.expand({**{r: run.config[r] for r in ev.space.decisions}, "conv3": LayerChoice(1, 1, 1, "pow2")})
    assert moved != run.config
    model = hand_on(run.supernet, run.config, moved, ev)
    assert model.spiking_layers()["conv3"].weight_quantizer.scheme == "pow2"
    fresh = _same_network(ev, model, moved)
    x = ev.data.val.tensors[0][:64]
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_a_one_shot_search_keeps_the_supernets_scored_networks_on_its_front():
    """With --scoring one-shot, the records of handed-on networks are final: they are not
    fine-tuned again, and they join the front of the fine-tuned configs."""
    space = default_space(build("digits_cnn"))
    config = space.uniform(LayerChoice(2, 2, 1, "uniform"))
    cheap = space.uniform(LayerChoice(1, 1, 1, "uniform"))

    class Tuner:
        calls: list = []

        def finetuned(self, c, on_epoch=None):  # noqa: ANN001
            self.calls.append(c)
            return {"accuracy": 0.5, "bit_budget": 1.0, "test_accuracy": 0.5}

    budget = Budget()
    supernet = TrialRecord.evaluated(0, config, {"accuracy": 0.9, "bit_budget": 4.0, "test_accuracy": 0.9}, strategy="differentiable",
                                     wall_time_s=1.0, budget=budget, info={"network": "supernet"})
    one_shot = TrialRecord.evaluated(1, cheap, {"accuracy": 0.4, "bit_budget": 1.0}, strategy="random", wall_time_s=1.0, budget=budget,
                                     info={"scoring": "one-shot"})
    tuner = Tuner()
    records, front = finetune_front(tuner, [supernet, one_shot], ("accuracy", "bit_budget"), budget)
    assert tuner.calls == [cheap]  # only the one-shot record is fine-tuned
    assert records[0] is supernet and records[1].metrics["accuracy"] == 0.5
    assert {r.number for r in front} == {0, 1} == {r.number for r in pareto_front(records, ("accuracy", "bit_budget"))}


@pytest.mark.slow
def test_the_default_mnist_run_settles_and_reports_its_own_networks(tmp_path, cache_dir):
    """The default search on the real MNIST (three targets, one supernet epoch each): in the
    last 10% of the steps in which the bits learn the config never changes, and every front
    point is the written network's own score."""
    from spikebits.evaluators import Evaluator
    from spikebits.models import load_sbq
    from spikebits.search import run_search

    real = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
    if not (real / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST files are not in {real}")
    ev = Evaluator("mnist_cnn", "mnist", seed=0, data_root=real, cache_dir=cache_dir)
    out = tmp_path / "mnist"
    result = run_search("differentiable", ev, objectives=("accuracy", "bit_budget"), out_dir=out)
    runs = json.loads((out / "run.json").read_text())["strategy"]["runs"]
    assert len(runs) == 3 and all(r.state == "COMPLETE" for r in result.records)
    for run in runs:
        assert run["late_changes"]["steps"] == math.ceil(0.1 * math.ceil(54_000 / 64)) and run["late_changes"]["changes"] == 0
    for record, run in zip(result.records, runs):
        network = load_sbq(out / f"network-{record.number}.sbq")
        assert ev.validation_accuracy(network) == record.metrics["accuracy"]
        # A network whose config fitting moved is fine-tuned there for one epoch; one at its own config is not.
        assert record.info["network_epochs"] == (1 if run["moves"] else 0)
        if not run["moves"]:
            assert record.metrics["accuracy"] == run["supernet_accuracy"]
    assert max(r.metrics["accuracy"] for r in result.records) > 0.985  # the 4/4/1 network: near the float network's 99.0%
