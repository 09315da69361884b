"""Cost metrics: pure functions of the layer structure (``LayerSpec`` s) and a ``Config``.

They need no data and no training. Every function takes the per-layer structure from
:func:`models.layer_specs` (which depends only on the architecture and the input shape).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from spikebits.models import LayerSpec
from spikebits.space import Config, ConfigError, SearchSpace


def bit_budget(specs: Sequence[LayerSpec], config: Config, layers: Iterable[str] | None = None) -> float:
    """Bit budget BB = W̄·S̄·T̄ (Shen et al. 2024) over ``layers`` (default: all).

        W̄ = Σ B_w,l N_w,l / Σ N_w,l
        S̄ = Σ mean_t(B_s,l,t) N_a,l / Σ N_a,l
        T̄ = Σ T_l N_a,l / Σ N_a,l

    Pass the space's unpinned layers (``SearchSpace.free_layers``) to leave pinned ones out.
    """
    w, s, t = bit_averages(specs, config, layers)
    return w * s * t


def bit_averages(
    specs: Sequence[LayerSpec], config: Config, layers: Iterable[str] | None = None
) -> tuple[float, float, float]:
    """(W̄, S̄, T̄) as weighted by N_w (weights) and N_a (input activations)."""
    config.check_layers(s.name for s in specs)
    keep = set(layers) if layers is not None else {s.name for s in specs}
    chosen = [s for s in specs if s.name in keep]
    if not chosen:
        raise ConfigError("bit budget needs at least one unpinned layer; unpin a layer in the space")
    n_w = sum(s.n_weights for s in chosen)
    n_a = sum(s.n_inputs for s in chosen)
    w_bar = sum(config[s.name].w_bits * s.n_weights for s in chosen) / n_w
    s_bar = sum(config[s.name].s_bits * s.n_inputs for s in chosen) / n_a
    t_bar = sum(config[s.name].timesteps * s.n_inputs for s in chosen) / n_a
    return w_bar, s_bar, t_bar


def s_ace(specs: Sequence[LayerSpec], config: Config, rates: Mapping[str, float] | None = None) -> float:
    """S-ACE = Σ_l MACs_l · B_w,l · Σ_{t=1..T_l} B_s,l,t over every synaptic layer (pinned ones
    at their own bits). Dense: every input counts. With ``rates`` (layer -> measured fraction
    of non-zero input spikes) each layer is multiplied by its rate: the activity-aware variant.
    """
    config.check_layers(s.name for s in specs)
    total = 0.0
    for s in specs:
        c = config[s.name]
        rate = 1.0 if rates is None else float(rates[s.name])
        total += s.macs * c.w_bits * c.s_bits * c.timesteps * rate
    return float(total)


def size_bits(specs: Sequence[LayerSpec], config: Config) -> int:
    """Stored synaptic weight bits: Σ_l N_w,l · B_w,l (biases and BatchNorm not counted)."""
    config.check_layers(s.name for s in specs)
    return int(sum(s.n_weights * config[s.name].w_bits for s in specs))


def effective_resolution(specs: Sequence[LayerSpec], config: Config) -> float:
    """Stored weight bits per weight (SpikeHQ): size_bits / Σ N_w. Compression vs FP32 = 32 / this."""
    return size_bits(specs, config) / sum(s.n_weights for s in specs)


def cost_metrics(specs: Sequence[LayerSpec], config: Config, space: SearchSpace, energy_model=None) -> dict[str, float]:
    """The data-free metric keys: ``bit_budget`` (unpinned layers), ``s_ace``, ``size_bits``,
    ``effective_resolution`` and ``energy_pj`` (dense estimate, :mod:`evaluators.energy`;
    ``energy_model`` is a preset name, a file or an ``EnergyModel``, default horowitz45nm)."""
    from spikebits.evaluators.energy import energy_pj

    return {
        "bit_budget": bit_budget(specs, config, space.free_layers),
        "s_ace": s_ace(specs, config),
        "size_bits": float(size_bits(specs, config)),
        "effective_resolution": effective_resolution(specs, config),
        "energy_pj": energy_pj(specs, config, energy_model),
    }
