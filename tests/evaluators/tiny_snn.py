"""A 4 → 5 → 3 spiking network small enough for exact Hessians (shared by
test_sensitivity.py and test_sensitivity_quantized.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikebits.models import SpikingLayer, SpikingNetwork


class Tiny(SpikingNetwork):
    """4 → 5 → 3: two spiking layers with linear synapses; l1 reads the input (encoder)."""

    input_shape = (4,)

    def __init__(self) -> None:
        super().__init__()
        self.l1 = SpikingLayer(nn.Linear(4, 5), encoder=True)
        self.l2 = SpikingLayer(nn.Linear(5, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(self.l1(x))


WEIGHTS = ("l1.synapse.weight", "l2.synapse.weight")


def exact_weight_hessian(model: Tiny, batches) -> torch.Tensor:  # noqa: ANN001 - [(x, y), ...]
    """Hessian of the mean cross-entropy over ``batches`` w.r.t. both weight matrices,
    flattened (35 × 35), by torch.autograd.functional.hessian (double backward through
    whatever quantizers the model is set to)."""
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in WEIGHTS]
    split = shapes[0].numel()

    def loss(w: torch.Tensor) -> torch.Tensor:
        p = {WEIGHTS[0]: w[:split].view(shapes[0]), WEIGHTS[1]: w[split:].view(shapes[1])}
        return sum(F.cross_entropy(torch.func.functional_call(model, p, (x,)), y) for x, y in batches) / len(batches)

    w = torch.cat([params[n].detach().reshape(-1) for n in WEIGHTS])
    return torch.autograd.functional.hessian(loss, w)
