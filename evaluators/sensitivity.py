"""Per-layer sensitivity of a trained full-precision network: the formulas.

Three families of numbers, each a pure function with its equation on top (symbols of
``DESIGN.md``):

* **Hessian (HAWQ)**: Tr(H_l) by Hutchinson's estimator (:func:`hutchinson_traces`) for the
  synapse weights and for each layer's input current, turned into
  Ω(l, b, scheme) = Tr(H_l)/N_w,l · ‖Q_b(W_l) − W_l‖² (:func:`hawq_omega`) and its activation
  analogue (:func:`activation_omega`), which sees the spike bits, the time steps and the
  membrane bits U of the layer's input neuron.
* **Output error (SensiBoost)**: the mean squared change of the logits when one layer alone is
  quantized (:func:`output_error`), at the whole choice: W, scheme, S, T and U.
* **Kurtosis (KurtBoost)**: the Pearson kurtosis of a layer's weights (:func:`pearson_kurtosis`).

:func:`evaluators.sensitivity_measure.measure_sensitivity` composes them on an evaluator's
pretrained network into a :class:`evaluators.sensitivity_report.SensitivityReport`, cached on
disk; search code reaches it only through :meth:`Evaluator.sensitivity`, the one cached entry
point, and reads it through :meth:`SensitivityReport.cost`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from spikebits.evaluators.training import Progress, quiet
from spikebits.models import RefinedNeuron, SpikingNetwork, quantize_weight, renewal_step
from spikebits.space import ConfigError, LayerChoice


LossFn = Callable[[Tensor, Tensor], Tensor]
#: Separates a module target's name from the number of its second, third … run in a forward.
RUN_SEP = "\x00run"


# ---------------------------------------------------------------------------------- Hessian
def _rademacher(like: Tensor, generator: torch.Generator) -> Tensor:
    """z ∈ {−1, +1} with equal probability, shaped and typed like ``like``."""
    z = torch.randint(0, 2, like.shape, generator=generator, device=generator.device, dtype=like.dtype)
    return z.mul_(2).sub_(1).to(like.device)


def _first_order(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, tensors: Mapping[str, Tensor | nn.Module]
) -> tuple[dict[str, Tensor], dict[str, Tensor | None]]:
    """One forward and one differentiable backward: the targets of this batch (parameters as
    given, module inputs as captured) and g = ∂L/∂target with its graph (create_graph=True)."""
    captured: dict[str, list[Tensor]] = {}
    handles = []
    for name, target in tensors.items():
        if isinstance(target, nn.Module):

            def hook(module: nn.Module, args: tuple, _name: str = name) -> None:
                captured.setdefault(_name, []).append(args[0])

            handles.append(target.register_forward_pre_hook(hook))
    if handles:
        # Every current then lies on a path from a leaf that requires grad, the image included.
        x = x.detach().requires_grad_(True)
    try:
        loss = loss_fn(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    targets: dict[str, Tensor] = {}
    for name, target in tensors.items():
        if isinstance(target, nn.Module):
            runs = captured.get(name, [])
            if not runs:
                raise ValueError(f"module {name!r} did not run in the forward; a module target must run")
            targets[name] = runs[0]
            for i, run in enumerate(runs[1:], 1):  # the same neuron on another branch (SEW-ResNet)
                targets[f"{name}{RUN_SEP}{i}"] = run
        else:
            if not target.requires_grad:
                raise ValueError(f"tensor {name!r} does not require grad; its Hessian cannot be taken")
            targets[name] = target
    grads = torch.autograd.grad(loss, list(targets.values()), create_graph=True, allow_unused=True)
    return targets, dict(zip(targets, grads))


def _hessian_vector(
    targets: dict[str, Tensor], grads: dict[str, Tensor | None], z: dict[str, Tensor], joint: bool = False
) -> dict[str, float]:
    """z_lᵀ(H z)_l for every target l, by double backward.

    ``joint``: one pass, H z = ∂(Σ_l g_l·z_l)/∂target, so (H z)_l = Σ_k H_lk z_k carries cross
    terms of mean zero. Otherwise one pass per target, (H z)_l = ∂(g_l·z_l)/∂target_l = H_ll z_l.
    A target whose gradient is missing (the loss does not depend on it) or constant (the loss
    is linear in it) has H = 0 and contributes 0."""
    live = [n for n in targets if grads[n] is not None and grads[n].requires_grad]
    out = dict.fromkeys(targets, 0.0)
    groups = [live] if joint else [[n] for n in live]
    for group in groups:
        if not group:
            continue
        hz = torch.autograd.grad(
            [grads[n] for n in group], [targets[n] for n in group], grad_outputs=[z[n] for n in group], retain_graph=True, allow_unused=True
        )
        for n, h in zip(group, hz):
            if h is not None:
                out[n] = float(torch.dot(z[n].reshape(-1), h.reshape(-1)))
    return out


def hutchinson_traces(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple[Tensor, Tensor]],
    tensors: Mapping[str, Tensor | nn.Module],
    *,
    max_probes: int = 200,
    min_probes: int = 10,
    tol: float = 1e-3,
    seed: int = 0,
    progress: Progress | None = None,
    keep_graphs: bool = True,
    joint: bool = False,
) -> tuple[dict[str, float], int]:
    """Tr(H_l) ≈ (1/m) Σ_{i=1..m} z_l,iᵀ (H z_i)_l, z Rademacher (±1), H z by double backward.

    H is the Hessian of the mean loss over ``batches``, L = (1/n_b) Σ_b loss_fn(model(x_b), y_b),
    so each probe averages z_lᵀ(H_b z)_l over the batches. ``tensors`` names the variables:

    * a ``Tensor`` (for weights, a Parameter) is one variable shared by every batch; the probe
      draws one z_l for it;
    * an ``nn.Module`` stands for its first forward input, captured on each batch by a forward
      pre-hook (for a layer's input current, pass ``layer.neuron``); the probe draws one z_l per
      batch, since the tensor differs per batch. A module that runs k times in one forward (one
      neuron applied to two branches' currents, as SEW-ResNet's blocks do) stands for all k
      inputs: its trace is the sum of the k diagonal blocks' traces, the trace over the joint
      input.

    Every variable is probed on the same forward and first backward. By default (``joint=False``)
    each gets its own double backward, (H z)_l = ∂(g_l·z_l)/∂θ_l = H_ll z_l, so the per-probe
    variance is 2·Σ_{i≠j} H_ll,ij². ``joint=True`` takes one double backward of Σ_l g_l·z_l for
    all of them (cheaper per probe, and the form written above): still unbiased, since the cross
    terms z_lᵀH_lk z_k (k ≠ l) have mean zero, but they add Σ_{k≠l} ‖H_lk‖²_F to the variance,
    which swamps layers with small traces (on digits_cnn the fc estimate had a relative
    per-probe spread of about 7 jointly against 0.4 alone).

    Stopping: after ``min_probes`` probes, stop as soon as the running mean of the total
    Σ_l Tr(H_l) changes by at most ``tol`` (relative) from one probe to the next; at most
    ``max_probes``. Returns the traces and the number of probes used.

    ``keep_graphs=True`` runs each batch's forward and first backward (create_graph) once and
    reuses that graph for every probe (memory: ``len(batches)`` double-backward graphs);
    ``False`` recomputes them per batch inside the probe loop (memory: one graph; one more
    forward and backward per batch and probe). Both give the same numbers for the same seed.

    The caller sets the model up: for the spiking networks here, full precision
    (``models.set_full_precision``: ReLU-limit neurons, over their T steps) or quantized (a
    config applied and step sizes calibrated; H through the quantizers' straight-through
    gradients, whose backward is differentiable), and eval mode (BatchNorm statistics fixed).
    Parameters must require grad.
    """
    if max_probes < 1:
        raise ValueError("max_probes must be >= 1")
    progress = progress or quiet
    names = list(tensors)
    generator = _probe_generator(tensors, batches, seed)
    graphs = [_first_order(model, loss_fn, x, y, tensors) for x, y in batches] if keep_graphs else None

    sums = dict.fromkeys(names, 0.0)
    previous_mean: float | None = None
    used = 0
    for probe in progress(range(max_probes), "Hessian probes", max_probes):
        estimate = _probe(model, loss_fn, batches, tensors, graphs, generator, joint)
        for n in names:
            sums[n] += estimate[n]
        used = probe + 1
        mean_total = sum(sums.values()) / used
        if used >= min_probes and previous_mean is not None and abs(mean_total - previous_mean) <= tol * abs(previous_mean):
            break
        previous_mean = mean_total
    return {n: sums[n] / used for n in names}, used


def _probe_generator(tensors: Mapping[str, Tensor | nn.Module], batches: Sequence[tuple[Tensor, Tensor]], seed: int) -> torch.Generator:
    """The generator of the probes, seeded by ``seed``, on the device of the first tensor
    target (else of the first batch)."""
    device = next((t.device for t in tensors.values() if isinstance(t, Tensor)), None)
    if device is None:
        device = batches[0][0].device
    return torch.Generator(device=device).manual_seed(seed)


def _probe(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple[Tensor, Tensor]],
    tensors: Mapping[str, Tensor | nn.Module],
    graphs: list[tuple[dict[str, Tensor], dict[str, Tensor | None]]] | None,
    generator: torch.Generator,
    joint: bool,
) -> dict[str, float]:
    """One Hutchinson probe: (1/n_b) Σ_b z_lᵀ(H_b z)_l for every name l of ``tensors``.

    A tensor target draws one z_l for every batch; a module target one per batch (and run).
    ``graphs``: each batch's :func:`_first_order`, kept; None: computed here per batch."""
    names = list(tensors)
    shared = {n: _rademacher(tensors[n], generator) for n in names if not isinstance(tensors[n], nn.Module)}  # type: ignore[arg-type]
    estimate = dict.fromkeys(names, 0.0)
    for b, (x, y) in enumerate(batches):
        targets, grads = graphs[b] if graphs is not None else _first_order(model, loss_fn, x, y, tensors)
        z = dict(shared)
        z.update({n: _rademacher(t, generator) for n, t in targets.items() if n not in shared})
        for n, value in _hessian_vector(targets, grads, z, joint).items():
            estimate[n.split(RUN_SEP)[0]] += value / len(batches)
        del targets, grads, z
    return estimate


# ------------------------------------------------------------------------------- HAWQ Ω
def hawq_omega(trace: float, weight: Tensor, bits: int, scheme: str) -> float:
    """Ω(l, b, scheme) = Tr(H_l)/N_w,l · ‖Q_b(W_l) − W_l‖² (HAWQ).

    Q_b is the project's weight quantizer (:func:`models.quantize_weight`, ``"uniform"`` or
    ``"pow2"``) at the step α = :func:`models.renewal_step` (W_l, b, scheme): the grid-searched
    clipping range minimising mean|Q(W) − W|^p, p = 2.4 (the seed paper's step-size renewal).
    That is the step a layer gets when its bit width changes. The LSQ start
    α₀ = 2·mean|w|/sqrt(Q_p) is only a first guess that fine-tuning corrects; Ω at α₀ would
    measure that guess rather than what b bits can represent.
    """
    w = weight.detach()
    alpha = torch.tensor(renewal_step(w, bits, scheme), dtype=w.dtype, device=w.device)
    with torch.no_grad():
        error = float((quantize_weight(w, alpha, bits, scheme) - w).pow(2).sum())
    return float(trace) / w.numel() * error


def spike_error(current: Tensor, bits: int, timesteps: int, membrane_bits: int | None = None) -> float:
    """E_samples ‖ŝ − relu(x)‖², ŝ = (1/T) Σ_t s_t of a refined neuron at (b, T, U) driven by x.

    s_t = γ·clip(⌊v_t/γ + 0.5⌋, 0, 2^b − 1), v_t = v_{t−1} + x − s_{t−1} (RefinedNeuron), with one
    γ = :func:`models.renewal_step` (relu(x), b, ``"unsigned"``) for every step. With
    ``membrane_bits`` U the charge v'_t = v_{t−1} + x − s_{t−1} is stored as a U-bit code of
    step δ = γ·2^(−F) before it fires, v_t = δ·clip(⌊v'_t/δ + ½⌋, −2^(U−1), 2^(U−1) − 1)
    (``docs/membrane_bits.md``); None: the unquantized membrane. relu(x) is what the
    full-precision neuron emits on average at any T. The squared error is summed over a
    sample's elements and averaged over the samples (dim 0 of ``current``).
    """
    x = current.detach()
    target = torch.relu(x)
    neuron = RefinedNeuron().to(device=x.device, dtype=x.dtype)
    neuron.configure(bits, timesteps, membrane_bits)
    with torch.no_grad():
        neuron.gamma.fill_(renewal_step(target, bits, "unsigned"))
        neuron.initialized.fill_(True)
        spikes = neuron(x).mean(dim=0)
        return float((spikes - target).pow(2).reshape(len(x), -1).sum(dim=1).mean())


def activation_omega(trace_a: float, current: Tensor, bits: int, timesteps: int, n_inputs: int, membrane_bits: int | None = None) -> float:
    """Ω_a(l, b, T, U) = Tr(H_a,l)/N_a,l · E_samples ‖ŝ − relu(x)‖² (HAWQ for activations).

    Tr(H_a,l) is the Hessian trace of the loss with respect to the layer's input current x, per
    sample (the trace over a batch's current tensor of the Hessian of the batch-mean loss is the
    mean over samples of the per-sample trace), N_a,l the input activations per sample and ŝ
    the mean over T steps of the spikes of a refined neuron at (b, T) with a U-bit membrane
    (``membrane_bits``; None: unquantized) (:func:`spike_error`).

    This is how the Hessian sensitivity sees U: the weight term Ω_w does not depend on it, and
    the membrane is part of the layer's input neuron, whose emitted spikes Ω_a compares with
    the full-precision neuron's. A narrow membrane rounds and saturates the charge, so the
    spikes drift from relu(x) and Ω_a grows; a wide one approaches the unquantized neuron's Ω_a.
    """
    return float(trace_a) / n_inputs * spike_error(current, bits, timesteps, membrane_bits)


# ------------------------------------------------------------------------- output error
@torch.no_grad()
def output_error(model: SpikingNetwork, layer_name: str, choice: LayerChoice, x: Tensor, *, reference: Tensor | None = None) -> float:
    """E_samples Σ_k (f_q,k(x) − f_k(x))²: the mean squared change of the logits when layer
    ``layer_name`` alone is set to ``choice`` (SensiBoost's per-layer metric): its weights at
    (W, scheme) and its input neuron at (S, T) with the choice's membrane bits U
    (:meth:`models.SpikingLayer.configure` hands U to the neuron; None: unquantized).

    f is the model as it comes (full precision, in :func:`measure_sensitivity`); f_q the same
    model with that one layer quantized, its step sizes initialised on ``x`` in eval mode (the
    first forward initialises α₀ and γ₀ from the weights and currents it sees, as
    :func:`evaluators.training.calibrate` does, then quantizes, so that forward is f_q). The
    model is left exactly as it came: configuration, parameter objects, state and train/eval
    mode. ``reference``: f(x) in eval mode, when the caller already has it (saves a forward).
    """
    layers = model.spiking_layers()
    if layer_name not in layers:
        raise ConfigError(f"model has no layer {layer_name!r}; layers are: {', '.join(layers)}")
    layer = layers[layer_name]
    was_training = model.training
    previous_choice, previous_timesteps = layer.choice, layer.neuron.timesteps
    params = dict(layer.named_parameters(recurse=True))
    state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    model.eval()
    try:
        if reference is None:
            reference = model(x)
        layer.configure(choice)
        quantized = model(x)
        return float((quantized - reference).pow(2).reshape(len(x), -1).sum(dim=1).mean())
    finally:
        if previous_choice is None:
            layer.configure(None, timesteps=previous_timesteps)
        else:
            layer.configure(previous_choice)
        for name, param in params.items():  # configure may have swapped γ for a resized Parameter
            owner, _, attr = name.rpartition(".")
            module = layer.get_submodule(owner) if owner else layer
            if dict(module.named_parameters(recurse=False)).get(attr) is not param:
                setattr(module, attr, param)
        layer.load_state_dict(state)
        model.train(was_training)


# ----------------------------------------------------------------------------- kurtosis
def pearson_kurtosis(w: Tensor | np.ndarray | Sequence[float]) -> float:
    """κ = E[(w − μ)⁴]/σ⁴ with the population σ (KurtBoost; 3 for a normal distribution).

    Computed by ``scipy.stats.kurtosis(w, fisher=False, bias=True)`` over all elements."""
    values = w.detach().double().cpu().numpy() if isinstance(w, Tensor) else np.asarray(w, dtype=np.float64)
    import scipy.stats  # most of a second to import: only where a kurtosis is taken

    return float(scipy.stats.kurtosis(values.reshape(-1), fisher=False, bias=True))
