"""``spikformer``: a configurable spiking vision transformer (Zhou et al., "Spikformer: When
Spiking Neural Network Meets Transformer", ICLR 2023), every synaptic layer searchable.

Structure (the defaults are Spikformer-4-384 for CIFAR: 9,320,122 parameters, the paper's
9.32 M)::

    tokenizer (SPS)  conv1 in→D/8, conv2 D/8→D/4, conv3 D/4→D/2, conv4 D/2→D (3×3, BN each),
                     a 3×3 stride-2 max-pool after each of the last log₂(patch_size) convs,
                     then the relative position embedding x + BN(rpe(x)) (rpe: 3×3 D→D)
    depth × block    x = x + SSA(x);  x = x + MLP(x)       on N = (image_size/patch_size)² tokens
    head             mean over tokens, fc D→classes

    SSA(x):  Q = SN(BN(q(X))), K = SN(BN(k(X))), V = SN(BN(v(X))) with X = SN(x)
             A = (Q·Kᵀ)·V · scale per head (no softmax), out = BN(proj(SN(A)))
    MLP(x):  BN(fc2(SN(BN(fc1(SN(x))))))

How that maps onto :class:`models.SpikingLayer` (input neuron + synapse; a layer's W, S and T
are those of its weights and of the spikes it reads):

* The residual stream x is a current (the membrane shortcut of the Spike-driven
  Transformer, Yao et al. 2023, rather than Spikformer's sum of spike maps), so every
  linear reads S-bit spikes of its own input neuron: SN(x) is q's input neuron, SN(A) is
  proj's, the MLP's two SNs are fc1's and fc2's.
* q, k and v read the same spikes X (k and v name q as ``spike_source``, like a ResNet
  shortcut), so the three are **tied**: one W, S, T and scheme per attention.
* The spike matrices Q, K and V are fired by each layer's ``output_neuron``, which runs at
  the layer's S and T (and, in the supernet, shares its learnable B̂_s and T̂): *the
  attention's spike matrices are quantized at the q/k/v group's S*, over its T steps. The
  products are taken per step (Q_t·K_tᵀ)·V_t and the proj layer's neuron receives their
  temporal mean (temporal squeezing), so proj may run at another T.
* Cost: q's :class:`models.LayerSpec` carries the two spike-spike products (heads·N²·d each
  per step); S-ACE counts a product of an a-bit and a b-bit operand as a·b bit operations
  (as MACs·W·S for weights × spikes), see :func:`evaluators.cost.attention_bit_products`.
* The tokenizer's max-pools act on currents before the next neuron (equal to pooling the
  spikes at T = 1, the neuron being monotone), and the head pools the token currents before
  its neuron, so every layer's neuron count is its input count.

Widths and depth shrink through the arguments (``embed_dim`` must be divisible by 8 and by
``heads``; ``image_size`` by ``patch_size``, a power of two up to 16).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.limits import check_width
from spikebits.models.network import SpikingNetwork
from spikebits.models.neurons import NEURONS
from spikebits.models.registry import register


class TokenNorm(nn.BatchNorm1d):
    """BatchNorm over the channel (last) dimension of ``[B, N, D]`` tokens: statistics over
    batch and tokens, as Spikformer's BatchNorm1d on ``[B, D, N]``."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x.reshape(-1, x.shape[-1])).view_as(x)


class SpikingSelfAttention(nn.Module):
    """Spikformer's SSA on the current ``x`` (``[B, N, D]``); returns BN(proj(SN(A))) (module
    docstring). q, k, v: D→D without bias; proj: D→D with bias."""

    def __init__(self, dim: int, heads: int, neuron: str, scale: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed_dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, float(scale)
        self.q = SpikingLayer(nn.Linear(dim, dim, bias=False), neuron)
        self.k = SpikingLayer(nn.Linear(dim, dim, bias=False), neuron)
        self.v = SpikingLayer(nn.Linear(dim, dim, bias=False), neuron)
        for layer in (self.q, self.k, self.v):
            layer.output_neuron = NEURONS[neuron]()
        self.q.attention = (heads, dim // heads)
        self.q_norm, self.k_norm, self.v_norm = TokenNorm(dim), TokenNorm(dim), TokenNorm(dim)
        self.proj = SpikingLayer(nn.Linear(dim, dim), neuron)
        self.proj_norm = TokenNorm(dim)

    def _heads(self, spikes: Tensor) -> Tensor:
        """``[T, B, N, D]`` → ``[T, B, heads, N, D/heads]``."""
        t, b, n, d = spikes.shape
        return spikes.reshape(t, b, n, self.heads, d // self.heads).transpose(2, 3)

    def forward(self, x: Tensor) -> Tensor:
        spikes = self.q.spikes(x)  # X, read by q, k and v
        q = self._heads(self.q.fire_output(self.q_norm(self.q.synapse_forward(spikes))))
        k = self._heads(self.k.fire_output(self.k_norm(self.k.synapse_forward(spikes))))
        v = self._heads(self.v.fire_output(self.v_norm(self.v.synapse_forward(spikes))))
        attn = (q @ k.transpose(-2, -1)) @ v  # per step: (Q_t·K_tᵀ)·V_t
        t, b, h, n, d = attn.shape
        attn = attn.transpose(2, 3).reshape(t, b, n, h * d)
        return self.proj_norm(self.proj(self.q.squeeze(attn) * self.scale))


class SpikingMLP(nn.Module):
    """BN(fc2(SN(BN(fc1(SN(x)))))), both linears with bias."""

    def __init__(self, dim: int, hidden: int, neuron: str) -> None:
        super().__init__()
        self.fc1 = SpikingLayer(nn.Linear(dim, hidden), neuron)
        self.norm1 = TokenNorm(hidden)
        self.fc2 = SpikingLayer(nn.Linear(hidden, dim), neuron)
        self.norm2 = TokenNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm2(self.fc2(self.norm1(self.fc1(x))))


class SpikformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, neuron: str, scale: float) -> None:
        super().__init__()
        self.attn = SpikingSelfAttention(dim, heads, neuron, scale)
        self.mlp = SpikingMLP(dim, hidden, neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class Tokenizer(nn.Module):
    """Spikformer's spiking patch splitting (SPS): four 3×3 convolutions (in→D/8→D/4→D/2→D,
    no bias, BN each), a 3×3 stride-2 max-pool after each of the last ``pools`` of them, and
    the relative position embedding x + BN(rpe(x)); returns ``[B, N, D]`` token currents."""

    def __init__(self, in_channels: int, dim: int, pools: int, neuron: str) -> None:
        super().__init__()
        channels = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        for i in range(4):
            conv = nn.Conv2d(channels[i], channels[i + 1], 3, 1, 1, bias=False)
            self.add_module(f"conv{i + 1}", SpikingLayer(conv, neuron, encoder=i == 0))
            self.add_module(f"bn{i + 1}", nn.BatchNorm2d(channels[i + 1]))
            self.add_module(f"pool{i + 1}", nn.MaxPool2d(3, 2, 1) if i >= 4 - pools else nn.Identity())
        self.rpe = SpikingLayer(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), neuron)
        self.rpe_bn = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(1, 5):
            x = self.get_submodule(f"pool{i}")(self.get_submodule(f"bn{i}")(self.get_submodule(f"conv{i}")(x)))
        x = x + self.rpe_bn(self.rpe(x))
        return x.flatten(2).transpose(1, 2)  # [B, N, D]


class Spikformer(SpikingNetwork):
    """A spiking vision transformer (module docstring). Defaults: Spikformer-4-384 on CIFAR
    (3×32×32, patch 4 → 64 tokens, 12 heads, MLP ratio 4).

    Ties: ``(blocks.{i}.attn.q, blocks.{i}.attn.k, blocks.{i}.attn.v)`` for every block —
    the three projections read the same input spikes X (k and v name q as
    ``spike_source``), and their products Q·Kᵀ·V need Q, K and V on the same T steps.
    """

    input_shape = (3, 32, 32)
    bit_serial_unsupported = (
        "its self-attention multiplies two spike matrices (Q·Kᵀ·V), and the bit-serial unit models "
        "weights times spikes only"
    )

    def __init__(
        self,
        num_classes: int = 10,
        embed_dim: int = 384,
        depth: int = 4,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 4,
        attention_scale: float = 0.125,
        neuron: str = "refined",
        in_channels: int = 3,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if embed_dim < 8 or embed_dim % 8:
            raise ValueError(f"embed_dim must be a positive multiple of 8, got {embed_dim}")
        if depth < 1:
            raise ValueError("depth must be >= 1")
        if patch_size not in (1, 2, 4, 8, 16):
            raise ValueError(f"patch_size must be 1, 2, 4, 8 or 16, got {patch_size}")
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not divisible by patch_size {patch_size}")
        hidden = int(embed_dim * mlp_ratio)
        if hidden < 1:
            raise ValueError("mlp_ratio gives an empty MLP")
        check_width(hidden, f"mlp_ratio {mlp_ratio:g} × embed_dim {embed_dim}")
        self.input_shape = (in_channels, image_size, image_size)
        self.tokenizer = Tokenizer(in_channels, embed_dim, int(math.log2(patch_size)), neuron)
        self.blocks = nn.Sequential(*(SpikformerBlock(embed_dim, heads, hidden, neuron, attention_scale) for _ in range(depth)))
        ties = []
        for i, block in enumerate(self.blocks):
            q = f"blocks.{i}.attn.q"
            block.attn.k.spike_source = block.attn.v.spike_source = q
            ties.append((q, f"blocks.{i}.attn.k", f"blocks.{i}.attn.v"))
        self.ties = tuple(ties)
        self.head = SpikingLayer(nn.Linear(embed_dim, num_classes), neuron)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.blocks(self.tokenizer(x))
        return self.head(tokens.mean(dim=1))


@register("spikformer")
def spikformer(**kwargs) -> Spikformer:
    return Spikformer(**kwargs)
