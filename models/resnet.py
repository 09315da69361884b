"""``resnet20``: the seed paper's wide ResNet-20 for 32×32 inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.limits import check_total_depth
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register


class BasicBlock(nn.Module):
    """Two 3×3 spiking convolutions with a shortcut.

        out = BN(conv2(BN(conv1(c)))) + shortcut

    The block input ``c`` is a current. Identity shortcut: ``c`` itself (a membrane shortcut,
    no synapse). Where the shape changes, the shortcut is a 1×1 spiking convolution that
    reads *the same spikes as conv1* (conv1's input neuron fires once for both), so conv1 and
    the shortcut must share S and T: the network ties them.
    """

    def __init__(self, cin: int, cout: int, stride: int, neuron: str) -> None:
        super().__init__()
        self.conv1 = SpikingLayer(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), neuron)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = SpikingLayer(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), neuron)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: SpikingLayer | None = None
        if stride != 1 or cin != cout:
            self.shortcut = SpikingLayer(nn.Conv2d(cin, cout, 1, stride, bias=False), neuron)
            self.bn_shortcut = nn.BatchNorm2d(cout)

    def forward(self, c: Tensor) -> Tensor:
        spikes = self.conv1.spikes(c)
        out = self.bn1(self.conv1.synapse_forward(spikes))
        out = self.bn2(self.conv2(out))
        if self.shortcut is None:
            return out + c
        return out + self.bn_shortcut(self.shortcut.synapse_forward(spikes))


def residual_stages(
    block: Callable[[int, int, int, str], nn.Module], cin: int, widths: Sequence[int], blocks: int | Sequence[int], neuron: str
) -> tuple[list[nn.Sequential], tuple[tuple[str, str], ...]]:
    """The stages of a residual network: stage i (1-based, module ``layer{i}``) holds
    ``blocks[i-1]`` blocks ``block(cin, cout, stride, neuron)`` of ``widths[i-1]`` channels,
    stride 2 at the first block of every stage after the first. A block's 1×1 ``shortcut``
    (where the shape changes) reads the same spikes as its ``conv1``: it gets that layer as
    ``spike_source`` and the pair is returned as a tie. Returns (stages, ties).

    One block count per stage (a whole number: the same for every stage), each at least 1,
    and at most :data:`models.limits.MAX_DEPTH` blocks in all; else a ``ValueError`` before
    any block is built."""
    counts = [blocks] * len(widths) if isinstance(blocks, int) else list(blocks)
    if len(counts) != len(widths):
        raise ValueError(f"give one block count per stage: {len(widths)} widths but {len(counts)} block counts")
    if any(isinstance(c, int) and c < 1 for c in counts):
        raise ValueError(f"blocks must be >= 1 per stage, got {list(counts)}")
    check_total_depth(sum(c for c in counts if isinstance(c, int)), "blocks per stage")
    stages, ties = [], []
    for i, (cout, count) in enumerate(zip(widths, counts)):
        stage = nn.Sequential()
        for b in range(count):
            unit = block(cin, cout, 2 if (i > 0 and b == 0) else 1, neuron)
            if unit.shortcut is not None:
                ties.append((f"layer{i + 1}.{b}.conv1", f"layer{i + 1}.{b}.shortcut"))
                unit.shortcut.spike_source = f"layer{i + 1}.{b}.conv1"
            stage.append(unit)
            cin = cout
        stages.append(stage)
    return stages, tuple(ties)


class ResNet20(SpikingNetwork):
    """Wide ResNet-20 (Yao et al.): 3×3 stem (3→128), three stages of 3 basic blocks with
    128, 256, 512 channels (stride 2 at the first block of stages 2 and 3), global average
    pool on currents, fc (512→classes). 22 synaptic layers (stem, 18 block convolutions,
    two 1×1 shortcuts, fc).

    Ties: ``(layer2.0.conv1, layer2.0.shortcut)`` and ``(layer3.0.conv1, layer3.0.shortcut)``
    — the 1×1 shortcut reads conv1's spikes, so both layers share one choice.
    """

    input_shape = (3, 32, 32)

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (128, 256, 512),
        blocks: int = 3,
        neuron: str = "refined",
        in_channels: int = 3,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"resnet20 has three stages: give three widths, not {len(widths)}")
        self.input_shape = (in_channels, image_size, image_size)
        self.conv1 = SpikingLayer(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), neuron, encoder=True)
        self.bn1 = nn.BatchNorm2d(widths[0])
        (self.layer1, self.layer2, self.layer3), self.ties = residual_stages(BasicBlock, widths[0], widths, blocks, neuron)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = SpikingLayer(nn.Linear(widths[-1], num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


@register("resnet20")
def resnet20(**kwargs) -> ResNet20:
    return ResNet20(**kwargs)
