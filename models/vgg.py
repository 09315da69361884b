"""``vgg_dvs``: a VGG-11-style spiking network for event frames (DVS cameras)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import SpikingNetwork
from spikebits.models.registry import register
from spikebits.space import ConfigError

#: VGG-11's eight convolution widths (configuration "A" of Simonyan & Zisserman).
VGG11_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
#: VGG-11 pools after convolutions 1, 2, 4, 6 and 8 (1-based).
VGG11_POOL_AFTER = (1, 2, 4, 6, 8)
#: Pooling kinds: ``"avg"`` (default) and ``"max"``.
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class VGGDVS(SpikingNetwork):
    """VGG-11 for event frames: eight 3×3 spiking convolutions (stride 1, padding 1, no bias)
    of ``widths`` = 64, 128, 256, 256, 512, 512, 512, 512 channels, each followed by BatchNorm on
    its output current; a 2×2 pool (stride 2) after convolutions ``pool_after`` = 1, 2, 4, 6, 8;
    then the classifier head.

    Input: ``[B, in_channels, image_size, image_size]``. The event loaders here stack time bins
    and polarities into channels (channel = bin · 2 + polarity), so the defaults, 8×48×48 and
    10 classes, are CIFAR10-DVS's frames (4 bins × 2 polarities, 128×128 summed to 48×48); DVS
    Gesture gives 8×32×32 (11 classes), ``image_size=128`` is its native resolution, and
    ``in_channels=2`` takes one frame of two polarities.

    Pooling (``pool``): ``"avg"`` (default) or ``"max"``, applied to *currents* (after BN,
    before the next layer's input neuron), so every synapse still receives spikes and the
    pooling itself computes nothing on spikes; average pooling of currents is the usual SNN
    choice (it is linear, so it commutes with temporal squeezing: the next neuron receives the
    pooled mean current). Pools use ``ceil_mode=True``: a partial window at an odd edge is
    pooled over the pixels it holds, and a 1×1 map stays 1×1, so any ``image_size`` ≥ 1 survives
    the five halvings (48: 48→24→12→6→3→2; 128: →4; 16: →1).

    Head: an adaptive average pool of the currents to 1×1 (so the flatten size is the last
    width, 512, for any ``image_size``), then ``fc`` (512→classes, with bias). With
    ``hidden=N`` the head has two linear layers, ``fc1`` (512→N, no bias) with BatchNorm1d on
    its output current, then ``fc`` (N→classes); the default is one layer, as in the other
    architectures here.

    Synaptic layers: ``conv1`` … ``conv8``, (``fc1``,) ``fc``. ``conv1`` reads the frames (the
    encoder layer, pinned at W8/S8/T1 by default). No ties: the network is a plain chain, every
    synapse reads the spikes of its own input neuron, so no spike source is shared.
    """

    input_shape = (8, 48, 48)

    def __init__(
        self,
        num_classes: int = 10,
        widths: Sequence[int] = VGG11_WIDTHS,
        neuron: str = "refined",
        in_channels: int = 8,
        image_size: int = 48,
        pool: str = "avg",
        pool_after: Sequence[int] = VGG11_POOL_AFTER,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ConfigError(f"vgg_dvs widths must be one or more positive channel counts, not {widths}")
        if pool not in POOLS:
            raise ConfigError(f"vgg_dvs pool must be one of {', '.join(sorted(POOLS))}, not {pool!r}")
        pool_after = tuple(int(i) for i in pool_after)
        if any(not 1 <= i <= len(widths) for i in pool_after):
            raise ConfigError(f"vgg_dvs pool_after must name convolutions 1 … {len(widths)}, not {pool_after}")
        if hidden is not None and hidden < 1:
            raise ConfigError(f"vgg_dvs hidden must be a positive width or None, not {hidden}")
        self.input_shape = (in_channels, image_size, image_size)
        self.pool_after = frozenset(pool_after)
        self.num_convs = len(widths)
        cin = in_channels
        for i, cout in enumerate(widths, start=1):
            conv = SpikingLayer(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), neuron, encoder=i == 1)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", nn.BatchNorm2d(cout))
            cin = cout
        self.pool = POOLS[pool](2, 2, ceil_mode=True)
        self.head_pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = hidden
        if hidden is not None:
            self.fc1 = SpikingLayer(nn.Linear(cin, hidden, bias=False), neuron)
            self.bn_fc1 = nn.BatchNorm1d(hidden)
            cin = hidden
        self.fc = SpikingLayer(nn.Linear(cin, num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(1, self.num_convs + 1):
            x = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))
            if i in self.pool_after:
                x = self.pool(x)
        x = self.head_pool(x).flatten(1)
        if self.hidden is not None:
            x = self.bn_fc1(self.fc1(x))
        return self.fc(x)


@register("vgg_dvs")
def vgg_dvs(**kwargs) -> VGGDVS:
    return VGGDVS(**kwargs)
