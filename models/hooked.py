"""Modules that module hooks (NeuroBench's among them) see doing a layer's work, step by step.

A :class:`models.SpikingLayer` computes its synapse once, on the temporal mean of its input
spikes (``F.conv2d(mean_t s_t, Q(W))``, exact because the synapse is affine), and a neuron
runs its T steps as one fused autograd node. Both are fast, and both are invisible to a
hook on an ``nn.Conv2d`` / ``nn.Linear`` or on an activation module. So every layer and
neuron also owns a module that does the same work one time step at a time, and does it
*only while it is watched*: in eval mode, with at least one module hook registered on it
(through ``register_forward_pre_hook`` / ``register_forward_hook``, which :class:`Watched`
overrides to count them; global hooks are not seen). Training, and inference nobody
watches, run the fused paths, bit for bit as before.

* :class:`DeployedConv2d` / :class:`DeployedLinear` (``layer.deployed``): the synapse as a
  chip holds it, weights Q(W) (α·levels; a weight quantized to 0 is 0), no bias, its weight
  a non-persistent buffer (not in the state dict, not a parameter). While watched the layer
  calls it once per step t on the integer spike levels k_t and forms
  Σ_t γ_t·deployed(k_t) / T + bias, the same current up to float rounding.
* :class:`RefinedFiring` / :class:`LIFFiring` (``neuron.firing``): the neuron's firing
  function of one step applied to its membrane v_t; ``mem`` holds v_t. They derive from
  ``nn.ReLU`` (the refined neuron's firing function is a staircase ReLU of the membrane,
  γ·clip(⌊v/γ + 0.5⌋, 0, Q)), which is how NeuroBench's ``TorchModel`` finds activation
  modules, and, when snnTorch is installed, from ``snntorch.SpikingNeuron``, which is how
  NeuroBench's hooks decide to read ``mem`` (``MembraneUpdates``). snnTorch's constructor is
  not run: no buffers, no entry in its global instance list.

And every layer owns a module through which its synapse always runs, watched or not:

* :class:`SynapseOp` (``layer.synapse_op``): ``layer.synapse_forward(spikes)`` computes the
  layer's synaptic current as the call ``layer.synapse_op(spikes, layer)``, so a module hook
  on it sees every synapse call — also those an architecture makes directly, bypassing
  ``SpikingLayer.forward`` (a ResNet shortcut, a SEW block, q, k and v) — with the ``[T, B, ...]``
  spikes the synapse reads, and a forward hook may return another output
  (:func:`evaluators.activity.probe_synapses` does). Unhooked, the call is torch's plain
  module call: the same numbers, bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from spikebits.models.quantizers import membrane_fire, unsigned_levels

try:  # snnTorch is optional (the ``neurobench`` extra): without it the firing modules are plain ReLU subclasses
    from snntorch import SpikingNeuron as SnnTorchNeuron
except ImportError:  # pragma: no cover - exercised only without the extra
    SnnTorchNeuron = None

#: Base classes of the firing modules: what NeuroBench recognises as a (spiking) activation.
FIRING_BASES: tuple[type, ...] = (nn.ReLU,) if SnnTorchNeuron is None else (nn.ReLU, SnnTorchNeuron)


class WatchHandle:
    """The handle of a hook on a :class:`Watched` module: ``remove()`` removes the hook and
    lowers the module's count once (a second call does nothing)."""

    def __init__(self, handle: Any, module: Watched) -> None:
        self.handle = handle
        self.module: Watched | None = module

    @property
    def id(self) -> int:
        return self.handle.id

    def remove(self) -> None:
        self.handle.remove()
        if self.module is not None:
            self.module.hook_count -= 1
            self.module = None

    def __enter__(self) -> WatchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Watched:
    """Mixin for an ``nn.Module``: counts the forward hooks registered on it (``watched``
    while at least one is), through the public registration methods it overrides."""

    hook_count: int = 0

    def register_forward_pre_hook(self, hook, **kwargs) -> WatchHandle:  # noqa: ANN001 - torch's signature
        return self._watch(super().register_forward_pre_hook(hook, **kwargs))  # type: ignore[misc]

    def register_forward_hook(self, hook, **kwargs) -> WatchHandle:  # noqa: ANN001 - torch's signature
        return self._watch(super().register_forward_hook(hook, **kwargs))  # type: ignore[misc]

    def _watch(self, handle: Any) -> WatchHandle:
        self.hook_count += 1
        return WatchHandle(handle, self)

    @property
    def watched(self) -> bool:
        return self.hook_count > 0


def _weight_buffer(module: nn.Module, like: Tensor) -> None:
    """Replace ``module.weight`` (a parameter) by an empty non-persistent buffer on ``like``'s device."""
    del module.weight
    module.register_buffer("weight", torch.empty(0, device=like.device, dtype=like.dtype), persistent=False)


class DeployedConv2d(Watched, nn.Conv2d):
    """The convolution ``synapse`` as deployed: weights Q(W) (set by :meth:`deploy`), no bias.
    Its geometry (stride, padding, dilation, groups) is the synapse's."""

    def __init__(self, synapse: nn.Conv2d) -> None:
        super().__init__(
            synapse.in_channels, synapse.out_channels, synapse.kernel_size, synapse.stride, synapse.padding,
            synapse.dilation, synapse.groups, bias=False, device="meta",
        )  # fmt: skip
        _weight_buffer(self, synapse.weight)
        #: W of the weights it holds (read by ``evaluators.neurobench.BitSynapticOperations``).
        self.w_bits: int | None = None

    def deploy(self, synapse: nn.Conv2d, weight: Tensor, w_bits: int | None) -> None:
        self.weight = weight.detach()
        self.stride, self.padding, self.dilation, self.groups = synapse.stride, synapse.padding, synapse.dilation, synapse.groups
        self.w_bits = w_bits


class DeployedLinear(Watched, nn.Linear):
    """The linear ``synapse`` as deployed: weights Q(W) (set by :meth:`deploy`), no bias."""

    def __init__(self, synapse: nn.Linear) -> None:
        super().__init__(synapse.in_features, synapse.out_features, bias=False, device="meta")
        _weight_buffer(self, synapse.weight)
        self.w_bits: int | None = None

    def deploy(self, synapse: nn.Linear, weight: Tensor, w_bits: int | None) -> None:
        self.weight = weight.detach()
        self.w_bits = w_bits


def deployed_synapse(synapse: nn.Conv2d | nn.Linear) -> DeployedConv2d | DeployedLinear:
    """The :class:`DeployedConv2d` or :class:`DeployedLinear` twin of ``synapse``."""
    return DeployedConv2d(synapse) if isinstance(synapse, nn.Conv2d) else DeployedLinear(synapse)


class Firing(Watched, *FIRING_BASES):  # type: ignore[misc]
    """One step of a neuron's firing, s_t = f(v_t), as an activation module (module
    docstring); ``mem`` is the membrane v_t of the last call, ``level`` its integer level
    k_t (s_t = γ_t·k_t), both detached (state a copy of the model may carry)."""

    #: Read by NeuroBench's ``NeuronHook``: one output per call, the spikes.
    init_hidden = True
    output = False

    def __init__(self) -> None:
        nn.Module.__init__(self)  # neither nn.ReLU's nor snnTorch's constructor (module docstring)
        self.inplace = False
        self.mem: Tensor | None = None
        self.level: Tensor | None = None

    def start(self, like: Tensor) -> None:
        """v_0 = 0 before step 1."""
        self.mem = torch.zeros_like(like)


class RefinedFiring(Firing):
    """s_t = γ_t·k_t, k_t = clip(⌊v_t/γ_t + 0.5⌋, 0, 2^B − 1) (the refined neuron's firing,
    the same arithmetic as its fused path); B = None: s_t = k_t = max(v_t, 0). With a U-bit
    membrane (``membrane_bits``) the membrane is stored first and ``stored`` holds v_t."""

    stored: Tensor | None = None

    def forward(self, membrane: Tensor, step: Tensor, bits: int | None, membrane_bits: int | None = None) -> Tensor:  # type: ignore[override]
        if membrane_bits is not None and bits is not None:
            # A U-bit membrane: ``membrane`` is the charged v'_t; it is stored, and the spikes
            # fire from the stored code (:func:`models.quantizers.membrane_fire`).
            self.stored, spikes, self.level = membrane_fire(membrane, step, membrane_bits, bits)
            self.mem = self.stored.detach()
            return spikes
        self.mem = membrane.detach()
        if bits is None:
            spikes = torch.relu(membrane)
            self.level = spikes.detach()
            return spikes
        level = torch.add(membrane / step, 0.5).floor_().clamp_(0.0, float(unsigned_levels(bits)))
        self.level = level.detach()
        return level * step


class LIFFiring(Firing):
    """s_t = k_t = H(v_t − θ) (binary spikes)."""

    def forward(self, membrane: Tensor, threshold: float) -> Tensor:  # type: ignore[override]
        self.mem = membrane.detach()
        self.level = (self.mem - threshold >= 0).to(membrane.dtype)
        return self.level


class SynapseOp(nn.Module):
    """The synaptic current of a :class:`models.SpikingLayer`, ``layer.synaptic_current(spikes)``,
    as a module call (module docstring): ``forward(spikes, layer)``, ``spikes`` ``[T, B, ...]``.

    A hook's ``args`` are ``(spikes, layer)``. It holds no parameter, buffer or state (the state
    dict is unchanged) and no reference to its layer, which it gets as an argument: a child
    holding its parent would be a module cycle, and a weak reference would make a deep copy's
    child compute with the original layer."""

    def forward(self, spikes: Tensor, layer: nn.Module) -> Tensor:
        return layer.synaptic_current(spikes)


def tag_levels(spikes: Tensor, levels: Tensor, steps: Tensor) -> Tensor:
    """Attach to ``spikes`` ``[T, B, ...]`` the integer levels k ``[T, B, ...]`` and step sizes
    γ ``[T]`` they were fired with (s_t = γ_t·k_t), for a watched layer that reads them
    (:func:`tagged_levels`); returns ``spikes``."""
    spikes.spike_levels = (levels, steps)  # type: ignore[attr-defined]
    return spikes


def tagged_levels(spikes: Tensor) -> tuple[Tensor, Tensor] | None:
    """(k, γ) attached by :func:`tag_levels`, or None."""
    return getattr(spikes, "spike_levels", None)


def spike_levels(spikes: Tensor, steps: Tensor, atol: float = 1e-4) -> tuple[Tensor, Tensor]:
    """(k, γ) with k_t = round(s_t/γ_t) when every s_t/γ_t lies within ``atol`` of an integer
    (``spikes`` ``[T, B, ...]`` are levels of one neuron, or sums of them); else the spikes as
    they are with γ_t = 1 (a sum of several neurons' spikes, a pooled average). Spikes on the
    meta device hold no values to test (a structural forward, :func:`models.layer_specs`):
    they are kept as they are."""
    steps = steps.to(spikes.device, spikes.dtype)
    if spikes.is_meta:
        return spikes.detach(), torch.ones_like(steps)
    levels = spikes.detach() / steps.view(-1, *([1] * (spikes.dim() - 1)))
    rounded = levels.round()
    if torch.allclose(levels, rounded, rtol=0.0, atol=atol):
        return rounded, steps
    return spikes.detach(), torch.ones_like(steps)
