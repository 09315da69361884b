"""``resnet19``: the TDBN/TET ResNet-19 for 32×32 inputs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register
from spikebits.models.resnet import BasicBlock, residual_stages


class ResNet19(SpikingNetwork):
    """ResNet-19 (Zheng et al. 2021, TDBN; also Deng et al. 2022, TET): 3×3 stem
    (in→128), three stages of 3, 3, 2 basic blocks with 128, 256, 512 channels (stride 2 at
    the first block of stages 2 and 3), global average pool on currents, fc (512→256),
    fc (256→classes). 21 synaptic layers at full size (stem, 16 block convolutions, two 1×1
    shortcuts, two fc).

    The two-layer head follows TDBN's table ("average pool, 256-d fc, fc"); no BatchNorm
    between the two fc layers, whose hidden width is ``head_width``. The blocks are
    :class:`models.resnet.BasicBlock` s, so everything between layers is a current, BN acts
    on currents, identity shortcuts add currents and each layer's input neuron fires the
    spikes its synapse reads (the pattern of ``resnet20``); fc2's input neuron fires on fc1's
    output current.

    Ties: ``(layer2.0.conv1, layer2.0.shortcut)`` and ``(layer3.0.conv1, layer3.0.shortcut)``
    — each 1×1 stride-2 shortcut reads its block conv1's spikes (``spike_source``), so both
    layers share one choice. Any stage whose first block changes the shape gets the same tie.
    """

    input_shape = (3, 32, 32)

    def __init__(
        self,
        num_classes: int = 10,
        widths: Sequence[int] = (128, 256, 512),
        blocks: Sequence[int] = (3, 3, 2),
        head_width: int = 256,
        neuron: str = "refined",
        in_channels: int = 3,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if len(widths) != 3 or len(blocks) != 3:
            raise ValueError("resnet19 has three stages: give three widths and three block counts")
        self.input_shape = (in_channels, image_size, image_size)
        self.conv1 = SpikingLayer(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), neuron, encoder=True)
        self.bn1 = nn.BatchNorm2d(widths[0])
        (self.layer1, self.layer2, self.layer3), self.ties = residual_stages(BasicBlock, widths[0], widths, blocks, neuron)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = SpikingLayer(nn.Linear(widths[-1], head_width), neuron)
        self.fc2 = SpikingLayer(nn.Linear(head_width, num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc2(self.fc1(self.pool(x).flatten(1)))


@register("resnet19")
def resnet19(**kwargs) -> ResNet19:
    return ResNet19(**kwargs)
