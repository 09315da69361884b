"""``mlp``: a fully connected SNN, for chips that run dense layers only (Xylo) and for
spike-train inputs without a spatial layout."""

from __future__ import annotations

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.limits import check_total_depth
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register
from spikebits.space import ConfigError


class MLP(SpikingNetwork):
    """[average pool p×p] → fc1 (C·(H/p)·(W/p) → hidden) → … → fc{depth} (hidden → hidden)
    → out (hidden → classes), BatchNorm after each hidden layer.

    ``depth`` hidden layers of ``hidden`` features. ``pool`` averages p×p pixel blocks of
    the image first, so that a chip with few input channels can read it (Xylo: 16 input
    channels, 63 synapses per neuron; ``--model-arg pool=4`` turns a 16×16 digit into 16
    inputs). No ties; fc1 reads the image (the pinned layer)."""

    input_shape = (1, 16, 16)

    def __init__(
        self,
        num_classes: int = 10,
        hidden: int = 64,
        depth: int = 1,
        neuron: str = "refined",
        in_channels: int = 1,
        image_size: int = 16,
        pool: int = 1,
    ) -> None:
        super().__init__()
        check_total_depth(depth, "mlp")
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1 or image_size % pool:
            raise ConfigError(f"pool={pool} must be a whole divisor of the image size {image_size}; use for example pool=1, 2 or 4")
        self.input_shape = (in_channels, image_size, image_size)
        self.pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()
        features = in_channels * (image_size // pool) ** 2
        self.hidden_layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(depth):
            self.hidden_layers.append(SpikingLayer(nn.Linear(features if i == 0 else hidden, hidden, bias=False), neuron, encoder=i == 0))
            self.norms.append(nn.BatchNorm1d(hidden))
        self.out = SpikingLayer(nn.Linear(hidden, num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(x).flatten(1)
        for layer, norm in zip(self.hidden_layers, self.norms):
            x = norm(layer(x))
        return self.out(x)


@register("mlp")
def mlp(**kwargs) -> MLP:
    return MLP(**kwargs)
