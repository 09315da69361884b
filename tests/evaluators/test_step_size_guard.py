"""Step sizes stay positive through training (``evaluators.training.StepSizeGuard``): an
update may shrink α or γ to half its value at most, and leaves every smaller change alone."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from spikebits.evaluators.training import STEP_SHRINK_LIMIT, StepSizeGuard, TrainSettings, step_size_parameters, train
from spikebits.models import RefinedNeuron, WeightQuantizer, apply_config, build
from spikebits.space import Config, LayerChoice


def _neuron(gamma: float) -> RefinedNeuron:
    neuron = RefinedNeuron()
    neuron.configure(8, 1)
    with torch.no_grad():
        neuron.gamma.fill_(gamma)
        neuron.initialized.fill_(True)
    return neuron


@pytest.mark.parametrize(
    ("grad", "expected"),
    [
        (0.3, 0.05),  # SGD (lr 1) would set γ to 0.1 − 0.3 = −0.2: held at half of 0.1
        (0.04, 0.06),  # 0.1 − 0.04 = 0.06 is above the limit: the update stands
        (-0.5, 0.6),  # growing is never limited
    ],
)
def test_an_update_shrinks_a_step_size_to_half_at_most(grad, expected):
    assert STEP_SHRINK_LIMIT == 0.5
    neuron = _neuron(0.1)
    guard = StepSizeGuard(neuron)
    assert guard.params == [neuron.gamma]
    optimizer = torch.optim.SGD([neuron.gamma], lr=1.0)
    neuron.gamma.grad = torch.tensor([grad])
    guard.before_step()
    optimizer.step()
    guard.after_step()
    assert float(neuron.gamma.detach()) == pytest.approx(expected)


def test_every_alpha_and_gamma_of_a_configured_network_is_guarded():
    model = build("digits_cnn", num_classes=10, in_channels=1, image_size=16)
    apply_config(model, Config({n: LayerChoice(4, 2, 2) for n in ("conv1", "conv2", "conv3", "fc")}))
    found = {id(p) for p in step_size_parameters(model)}
    alphas = [m.alpha for m in model.modules() if isinstance(m, WeightQuantizer)]
    gammas = [m.gamma for m in model.modules() if isinstance(m, RefinedNeuron)]
    assert len(alphas) == 4 and len(gammas) == 4  # one synapse and one neuron per layer
    assert found == {id(p) for p in alphas + gammas}


def test_adam_at_a_large_rate_leaves_every_step_size_positive():
    # Adam moves each parameter by about lr per update whatever its gradient's size: at lr 0.5
    # any γ or α (about 0.1 here) whose gradient is positive would cross zero in one update.
    torch.manual_seed(0)
    model = build("digits_cnn", num_classes=10, in_channels=1, image_size=16)
    apply_config(model, Config({n: LayerChoice(8, 8, 1) for n in ("conv1", "conv2", "conv3", "fc")}))
    data = TensorDataset(torch.rand(256, 1, 16, 16), torch.randint(0, 10, (256,)))
    model.eval()
    model(data.tensors[0][:64])  # the quantizers initialise their step sizes from data
    train(model, data, TrainSettings(epochs=2, lr=0.5, batch_size=32, seed=0))
    steps = torch.cat([p.detach().reshape(-1) for p in step_size_parameters(model)])
    assert bool((steps > 0).all()), steps


def test_a_gumbel_mixture_s_per_candidate_steps_are_guarded():
    from spikebits.models import MixedWeightQuantizer

    mixture = MixedWeightQuantizer([("uniform", 2), ("pow2", 3)], torch.nn.Parameter(torch.zeros(2)))
    assert step_size_parameters(torch.nn.Sequential(mixture)) == [mixture.alphas]
