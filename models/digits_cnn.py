"""``digits_cnn``: a small convolutional SNN for 16×16 single-channel digits."""

from __future__ import annotations

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register


class DigitsCNN(SpikingNetwork):
    """conv1 (1→c, 3×3) → conv2 (c→2c, 3×3, stride 2) → conv3 (2c→4c, 3×3, stride 2)
    → global average pool → fc (4c→classes); c = 32·width. BatchNorm after each conv.

    Four synaptic layers, no ties. conv1 reads the image (the pinned W8/S8/T1 layer); the
    average pool acts on currents, before fc's input neuron, so fc receives spikes.
    """

    input_shape = (1, 16, 16)

    def __init__(
        self, num_classes: int = 10, width: float = 1.0, neuron: str = "refined", in_channels: int = 1, image_size: int = 16
    ) -> None:
        super().__init__()
        c = max(4, int(round(32 * width)))
        self.input_shape = (in_channels, image_size, image_size)
        self.conv1 = SpikingLayer(nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), neuron, encoder=True)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = SpikingLayer(nn.Conv2d(c, 2 * c, 3, 2, 1, bias=False), neuron)
        self.bn2 = nn.BatchNorm2d(2 * c)
        self.conv3 = SpikingLayer(nn.Conv2d(2 * c, 4 * c, 3, 2, 1, bias=False), neuron)
        self.bn3 = nn.BatchNorm2d(4 * c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = SpikingLayer(nn.Linear(4 * c, num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x))
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.conv3(x))
        return self.fc(self.pool(x).flatten(1))


@register("digits_cnn")
def digits_cnn(**kwargs) -> DigitsCNN:
    return DigitsCNN(**kwargs)
