"""A 2-layer spiking toy whose spikes, integer levels and counts are worked out by hand
(shared by test_activity.py and test_hardware.py)."""

from __future__ import annotations

import torch
from torch import nn

from spikebits.models import SpikingLayer, SpikingNetwork, apply_config
from spikebits.space import Config, LayerChoice


class Toy(SpikingNetwork):
    """3 inputs → fc1 → 2 → fc2 → 2, no biases; fc1 quantizes the input (encoder)."""

    input_shape = (3,)

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = SpikingLayer(nn.Linear(3, 2, bias=False), encoder=True)
        self.fc2 = SpikingLayer(nn.Linear(2, 2, bias=False))

    def forward(self, x):
        return self.fc2(self.fc1(x))


def toy(fc2_bits: int = 2) -> Toy:
    """fc1 W3 S2 T1 (γ = 0.5, α = 0.25, w_int [[1, −2, 3], [1, 1, 0]]);
    fc2 W2 S{fc2_bits} T2 (γ = 0.25, 0.5; α = 0.5, w_int [[1, −1], [0, 1]])."""
    model = Toy()
    apply_config(model, Config({"fc1": LayerChoice(3, 2, 1), "fc2": LayerChoice(2, fc2_bits, 2)}))
    with torch.no_grad():
        model.fc1.neuron.gamma.copy_(torch.tensor([0.5]))
        model.fc2.neuron.gamma.copy_(torch.tensor([0.25, 0.5]))
        model.fc1.synapse.weight.copy_(0.25 * torch.tensor([[1.0, -2.0, 3.0], [1.0, 1.0, 0.0]]))
        model.fc2.synapse.weight.copy_(0.5 * torch.tensor([[1.0, -1.0], [0.0, 1.0]]))
        model.fc1.weight_quantizer.alpha.fill_(0.25)
        model.fc2.weight_quantizer.alpha.fill_(0.5)
    for layer in (model.fc1, model.fc2):
        layer.neuron.initialized.fill_(True)
        layer.weight_quantizer.initialized.fill_(True)
    return model.eval()


X = torch.tensor([[0.1, 0.6, 2.0]])
