"""``sew_resnet18``, ``sew_resnet34``: spike-element-wise ResNets (Fang et al. 2021) with ADD.

SEW-ResNet (Fang et al., "Deep Residual Learning in Spiking Neural Networks", NeurIPS 2021)
adds *spikes*, not currents: a block's output is O = g(A, S) with A = SN(BN(conv2(SN(BN(conv1(S))))))
the spikes of the residual path and S the block input spikes (or, in a downsampling block,
the spikes D = SN(BN(conv1×1(S))) of the shortcut); with g = ADD, O = A + S is a sum of
spike maps (non-binary) that the next convolution reads directly.

How that maps onto :class:`models.SpikingLayer` (input neuron + synapse): every neuron of
SEW is the input neuron of the layer whose synapse reads its spikes.

* The neuron that ends a residual path (SN after BN2), and in a downsampling block the
  neuron that ends the shortcut, feed the *next* block's conv1: they are that conv1's input
  neuron, applied to each branch's current separately (one neuron module, so the two
  branches share its S, T and step sizes γ_t).
* conv1's synapse then reads O = Σ_branches conv1.spikes(current) + carried, where
  ``carried`` is the block input's spike sum passed along an identity shortcut. The same O
  flows on along the next identity shortcut, so within a stage O accumulates the spikes of
  every residual path since the last downsampling block — exactly SEW's
  O_k = A_k + O_(k−1).
* Temporal squeezing: a layer hands on the mean of its T spike maps (DESIGN). ``carried``
  is the temporal mean of O (with the same T̂ gradient as :meth:`SpikingLayer.synapse_forward`),
  added as a constant to each of the reading neuron's T' steps. When T' = T this changes
  nothing the synapse sees (mean_t(A_t + S_t) = mean_t A_t + mean_t S_t).
* A 1×1 stride-2 shortcut reads the same O as its block's conv1 (``spike_source``): the two
  are tied, as in ``resnet20``.
* Stem: conv (encoder layer, reads the image) → BN → max-pool (ImageNet stem) on currents →
  layer1.0.conv1's neuron. Max-pooling the current before the neuron equals max-pooling
  the spikes at T = 1 (the neuron is monotone); at T > 1 it is the rate-domain equivalent.
* Head: fc's input neuron fires on the last block's branch currents (spatial maps), the
  carried spikes are added, and the global average pool acts on these spike maps (SEW
  pools spikes), giving fc ``[T, B, C]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register
from spikebits.models.resnet import BasicBlock, residual_stages

#: What flows between SEW blocks: the branch currents the next layer's input neuron fires
#: on, and the spike sum carried along an identity shortcut (``[B, ...]``, or None).
Signal = tuple[tuple[Tensor, ...], Tensor | None]


def _fire(layer: SpikingLayer, signal: Signal) -> Tensor:
    """SEW ADD at the input of ``layer``: Σ_branches layer.spikes(current) + carried, ``[T, B, ...]``."""
    currents, carried = signal
    spikes = layer.spikes(currents[0])
    for current in currents[1:]:
        spikes = spikes + layer.spikes(current)
    return spikes if carried is None else spikes + carried.unsqueeze(0)


class SEWBasicBlock(BasicBlock):
    """Two 3×3 spiking convolutions; SEW ADD of the residual path's spikes and the shortcut's.
    The layers are :class:`models.resnet.BasicBlock`'s; only the forward differs.

        O_in = Σ_b conv1.spikes(c_b) + carried        (the block input spikes, module docstring)
        r = BN2(conv2(BN1(conv1(O_in))))             (conv2's neuron is SEW's SN1)
        identity:    out = ((r,), mean_t O_in)
        downsample:  out = ((r, BN_sc(shortcut(O_in))), None)

    The output currents are fired by the next layer's input neuron (SEW's SN2 and the
    shortcut's SN). A downsampling shortcut is a 1×1 spiking convolution reading O_in, the
    spikes conv1 reads, so conv1 and the shortcut share S and T: the network ties them.
    """

    def forward(self, signal: Signal) -> Signal:  # type: ignore[override]
        spikes = _fire(self.conv1, signal)
        residual = self.bn2(self.conv2(self.bn1(self.conv1.synapse_forward(spikes))))
        if self.shortcut is None:
            return (residual,), self.conv1.squeeze(spikes)
        return (residual, self.bn_shortcut(self.shortcut.synapse_forward(spikes))), None


class SEWResNet(SpikingNetwork):
    """SEW-ResNet with the ADD connect function (module docstring for where neurons sit).

    Stem ``"imagenet"`` (default): 7×7 stride-2 conv (in→64), BN, 3×3 stride-2 max-pool;
    ``"cifar"``: 3×3 stride-1 conv, BN, no pool. Four stages of basic blocks with
    ``widths`` (64, 128, 256, 512) channels and ``blocks`` per stage ((2, 2, 2, 2) for
    SEW-ResNet-18, (3, 4, 6, 3) for 34), stride 2 at the first block of stages 2–4; global
    average pool of the last spike sum; fc (512→classes). Same convolutions, BN layers and
    fc as torchvision's ResNet-18/34.

    Ties: ``(layer{i}.0.conv1, layer{i}.0.shortcut)`` for every stage whose first block
    changes the shape (stages 2–4 at the default widths) — the 1×1 shortcut reads the spikes
    conv1 reads (``spike_source``), so both layers share one choice.

    Outside the layer model (the cost figures): conv1 of every block after the first of the
    network reads a *sum* of spike maps, up to (blocks since the last downsampling + 1)·(2^S − 1)
    levels of one or more neurons, not S-bit levels of its own neuron; S-ACE, the bit budget
    and the energy estimates count it as S-bit spikes, as SEW's papers count its non-binary
    ADD output as spikes.
    """

    input_shape = (3, 224, 224)
    bit_serial_unsupported = (
        "its blocks add spike maps, so a layer reads sums on more levels than its own neuron's S-bit grid, "
        "and the bit-serial unit models S-bit inputs only"
    )

    def __init__(
        self,
        num_classes: int = 1000,
        widths: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (2, 2, 2, 2),
        stem: str = "imagenet",
        neuron: str = "refined",
        in_channels: int = 3,
        image_size: int = 224,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) or not widths:
            raise ValueError("give one width per stage and one block count per stage")
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem {stem!r} is unknown; use 'imagenet' or 'cifar'")
        self.input_shape = (in_channels, image_size, image_size)
        if stem == "imagenet":
            conv = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.conv1 = SpikingLayer(conv, neuron, encoder=True)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, self.ties = residual_stages(SEWBasicBlock, widths[0], widths, blocks, neuron)
        for i, stage in enumerate(stages):
            self.add_module(f"layer{i + 1}", stage)
        self.stages = len(widths)
        self.fc = SpikingLayer(nn.Linear(widths[-1], num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        signal: Signal = ((self.maxpool(self.bn1(self.conv1(x))),), None)
        for i in range(self.stages):
            signal = self.get_submodule(f"layer{i + 1}")(signal)
        spikes = _fire(self.fc, signal)  # [T, B, C, H, W]
        return self.fc.synapse_forward(spikes.mean(dim=(-2, -1)))


@register("sew_resnet18")
def sew_resnet18(**kwargs) -> SEWResNet:
    return SEWResNet(**{"blocks": (2, 2, 2, 2), **kwargs})


@register("sew_resnet34")
def sew_resnet34(**kwargs) -> SEWResNet:
    return SEWResNet(**{"blocks": (3, 4, 6, 3), **kwargs})
