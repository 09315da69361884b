"""Resource guards: what a run would allocate, estimated and refused before it is allocated.

Memory. From a network's structure (its :class:`models.LayerSpec` s and parameter count, both
taken on PyTorch's meta device, so nothing is allocated), one batch of ``B`` samples at per-layer
time steps ``T_l`` needs about

    parameters:   P · 4 bytes · (4 when training: weights, gradients, Adam's two moments; else 1)
    activations:  B · 4 bytes · c · Σ_l e_l           (training: every layer's, kept for backward)
                  B · 4 bytes · c · max_l e_l         (evaluation: one layer at a time)
    e_l = T_l · (N_a,l + N_q,l + A_l) + N_o,l

per layer l: its input neuron's ``N_a,l`` elements at each of its T steps (the spike maps and
what the neuron keeps for its backward pass), the output neurons' ``N_q,l`` (a self-attention's
Q, K, V), the attention map's ``A_l`` = heads·N² entries, and the output current's ``N_o,l``
once (temporal squeezing: one synaptic pass). ``c`` counts the copies each element has
(:data:`TRAINING_COPIES`, :data:`EVALUATION_COPIES`: the neuron's saved membrane and levels,
BatchNorm's input, the gradient). The estimate is for refusing the absurd (tens of GB, tens of
TB), not a tight bound: a run it lets through may still run out of memory.

Limit (:func:`memory_limit`): ``SPIKEBITS_MAX_MEMORY_GB`` (GiB) when set, else this machine's
physical memory, or the GPU's memory for a CUDA device. :func:`check_memory` refuses an
estimate above it in one line that gives both and says how to override.

Counts: :data:`MAX_WORKERS` DataLoader processes, :data:`MAX_EPOCHS` epochs, and
:data:`space.config.MAX_TIMESTEPS` time steps (:func:`check_timesteps`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from spikebits.models import LayerSpec
from spikebits.space import ConfigError
from spikebits.space.config import MAX_TIMESTEPS

#: Bytes of one value (float32 weights and activations).
BYTES_PER_VALUE = 4
#: Copies of each parameter while training with Adam: the weight, its gradient, two moments.
TRAINING_PARAMETER_COPIES = 4
#: Copies of each activation element while training (module docstring, ``c``). Measured with
#: ``torch.autograd.graph.saved_tensors_hooks``: what autograd keeps for the backward pass is
#: 1.9 to 2.6 elements per e_l (digits_cnn, mnist_cnn, resnet20, spikformer, vgg_dvs at T 1-4);
#: one more for the gradients the backward pass makes.
TRAINING_COPIES = 3
#: Copies of each activation element of the layer in progress while evaluating.
EVALUATION_COPIES = 3
#: Batch of the evaluation passes (:func:`evaluators.training.accuracy`).
EVALUATION_BATCH = 512
#: The environment variable that sets the memory limit, in GiB (2³⁰ bytes).
MEMORY_ENV = "SPIKEBITS_MAX_MEMORY_GB"
#: Most DataLoader worker processes (``--workers``): each is a process with its own copy of
#: the data set's reader; far above what any machine's cores keep busy.
MAX_WORKERS = 256
#: Most training epochs (``--epochs``, ``--pretrain-epochs``, ``--one-shot-epochs``).
MAX_EPOCHS = 100_000
#: The hint of a refused estimate.
SHRINK = "use a smaller model (--model-arg), fewer time steps or a smaller batch"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one batch needs (module docstring): ``parameter_bytes`` (with gradients and
    optimiser state when training) and ``activation_bytes``; their sum :attr:`total_bytes`."""

    parameter_bytes: int
    activation_bytes: int
    batch_size: int
    timesteps: int
    training: bool

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def parameter_count(model: nn.Module) -> int:
    """Values the model holds: its parameters and buffers (BatchNorm statistics, step sizes);
    works on the meta device."""
    return sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())


def activation_elements(spec: LayerSpec, timesteps: int) -> int:
    """e_l of the module docstring: the activation elements of layer ``spec`` per sample at
    ``timesteps`` steps."""
    attention_map = spec.attention_products // spec.attention_head_dim if spec.attention_head_dim else 0
    return timesteps * (spec.n_inputs + spec.output_neurons + attention_map) + spec.n_outputs


def layer_timesteps(specs: Iterable[LayerSpec], timesteps: int | Mapping[str, int]) -> dict[str, int]:
    """Each layer's T: ``timesteps`` for every layer, or per layer name (a missing one: T = 1)."""
    if isinstance(timesteps, Mapping):
        return {s.name: int(timesteps.get(s.name, 1)) for s in specs}
    return {s.name: int(timesteps) for s in specs}


def estimate_memory(
    specs: list[LayerSpec],
    parameters: int,
    timesteps: int | Mapping[str, int],
    *,
    batch_size: int,
    training: bool = True,
) -> MemoryEstimate:
    """The :class:`MemoryEstimate` of one batch of ``batch_size`` samples through a network of
    ``specs`` and ``parameters`` values at ``timesteps`` (one T, or T per layer name), while
    training (backward pass and Adam) or evaluating. Formula: module docstring."""
    steps = layer_timesteps(specs, timesteps)
    per_layer = [activation_elements(s, steps[s.name]) for s in specs] or [0]
    elements = sum(per_layer) * TRAINING_COPIES if training else max(per_layer) * EVALUATION_COPIES
    copies = TRAINING_PARAMETER_COPIES if training else 1
    return MemoryEstimate(
        parameter_bytes=parameters * BYTES_PER_VALUE * copies,
        activation_bytes=elements * batch_size * BYTES_PER_VALUE,
        batch_size=batch_size,
        timesteps=max(steps.values(), default=1),
        training=training,
    )


def weights_estimate(parameters: int) -> MemoryEstimate:
    """The :class:`MemoryEstimate` of a network's ``parameters`` values alone (built, no batch):
    what ``spikebits space`` and ``export`` allocate."""
    return MemoryEstimate(parameters * BYTES_PER_VALUE, 0, batch_size=0, timesteps=1, training=False)


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``512 B``, ``1.5 GiB``, ``9.1 TiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = min(int(math.log(n, 1024)) if n >= 1 else 0, len(units) - 1)
    value = n / 1024**power
    return f"{value:.0f} {units[power]}" if power == 0 or value >= 100 else f"{value:.3g} {units[power]}"


def _env_limit() -> int | None:
    """The limit ``SPIKEBITS_MAX_MEMORY_GB`` sets (bytes), None when it is not set."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{MEMORY_ENV}={text!r} is not a positive number of GiB; set it to e.g. 64 or unset it")
    return int(value * 2**30)


def memory_limit(device: str | torch.device | None = None) -> tuple[int, str]:
    """(bytes, where the number comes from): ``SPIKEBITS_MAX_MEMORY_GB`` when set; else the
    memory of ``device`` when it is a CUDA GPU; else this machine's physical memory."""
    env = _env_limit()
    if env is not None:
        return env, f"{MEMORY_ENV}"
    resolved = torch.device(device) if device is not None else torch.device("cpu")
    if resolved.type == "cuda" and torch.cuda.is_available():
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory), f"{MEMORY_ENV}; default: the GPU's memory"
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover  (not a POSIX system)
        physical = 0
    if physical <= 0:  # pragma: no cover  (unknown: only the variable can bound it)
        return 2**62, f"{MEMORY_ENV}; default: no limit, this machine's memory is unknown"
    return int(physical), f"{MEMORY_ENV}; default: this machine's memory"


def check_memory(estimate: MemoryEstimate, what: str, *, device: str | torch.device | None = None, hint: str = SHRINK) -> None:
    """Refuse ``estimate`` above :func:`memory_limit` in one line (:class:`space.ConfigError`):
    ``what`` (the network, e.g. ``"resnet20 with widths [16384, 16384, 16384]"``) needs about
    so much at T and batch, above the limit (where it comes from); ``hint`` says what to do."""
    limit, source = memory_limit(device)
    if estimate.total_bytes <= limit:
        return
    if estimate.batch_size:
        doing = f"at T={estimate.timesteps}, batch {estimate.batch_size} needs about {format_bytes(estimate.total_bytes)} " + (
            "to train" if estimate.training else "to evaluate"
        )
    else:
        doing = f"needs about {format_bytes(estimate.total_bytes)} for its weights alone"
    raise ConfigError(f"{what} {doing}, above the {format_bytes(limit)} limit ({source}); {hint}")


def check_timesteps(timesteps: int | Mapping[str, int]) -> None:
    """Every T at most :data:`space.config.MAX_TIMESTEPS`; else one line naming the layer."""
    items = timesteps.items() if isinstance(timesteps, Mapping) else [("every layer", timesteps)]
    for name, steps in items:
        if steps > MAX_TIMESTEPS:
            where = name if name == "every layer" else f"layer {name}"
            raise ConfigError(
                f"timesteps={steps} ({where}) is above {MAX_TIMESTEPS}, the most a network is trained or evaluated at; "
                "use fewer time steps (--cost-only gives the cost figures of any T)"
            )


def check_workers(workers: int, flag: str = "--workers") -> int:
    """``workers`` DataLoader processes: a whole number from 0 to :data:`MAX_WORKERS`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= MAX_WORKERS:
        raise ConfigError(f"{flag} must be a whole number from 0 to {MAX_WORKERS}, not {workers!r}")
    return workers


def check_epochs(epochs: int | None, flag: str = "--epochs") -> int | None:
    """``epochs`` (None: until a plateau): at most :data:`MAX_EPOCHS`."""
    if epochs is not None and epochs > MAX_EPOCHS:
        raise ConfigError(f"{flag} {epochs} is more than {MAX_EPOCHS}; give fewer epochs")
    return epochs
