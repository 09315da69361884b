"""Measuring the per-layer sensitivity of an evaluator's pretrained network, with a disk cache.

:func:`measure_sensitivity` composes the formulas of :mod:`evaluators.sensitivity` into a
:class:`evaluators.sensitivity_report.SensitivityReport`. Search code does not call it: it
calls :meth:`Evaluator.sensitivity`, which memoises the report per evaluator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebits.evaluators.sensitivity import activation_omega, hawq_omega, hutchinson_traces, output_error, pearson_kurtosis
from spikebits.evaluators.sensitivity_report import LayerSensitivity, SensitivityReport, spike_key, weight_key
from spikebits.evaluators.training import Progress, StopRequest, calibrate, default_cache_dir, make_loader, pretrain_cache_key, quiet
from spikebits.models import SpikingNetwork, apply_config, set_full_precision
from spikebits.space import HESSIAN_NETWORKS, DataError, atomic_write_text, check_sensitivity_metric, read_json_file

#: Bump when the measurement changes in a way that invalidates cached reports.
SENSITIVITY_VERSION = 1


def _cache_path(evaluator: Any, model: SpikingNetwork, settings: dict[str, Any]) -> Path:
    cache_dir = Path(evaluator.cache_dir) if evaluator.cache_dir else default_cache_dir()
    # "network": "full" stays out of the hash, so reports cached before the option existed keep their names.
    keyed = {k: v for k, v in settings.items() if (k, v) != ("network", "full")}
    blob = json.dumps({"settings": keyed, "space": evaluator.space.to_dict(), "v": SENSITIVITY_VERSION}, sort_keys=True, default=str)
    key = pretrain_cache_key(model, evaluator.dataset, evaluator.seed, evaluator.pretrain_settings, evaluator.data_key)
    return cache_dir / f"{key}-sensitivity-{hashlib.sha256(blob.encode()).hexdigest()[:10]}.json"


def _read_cache(path: Path, space: Any, output_error: bool) -> SensitivityReport | None:
    """The cached report, read strictly (a regular file, finite numbers: :func:`space.read_json_file`);
    None when there is none, it is unreadable or damaged, or it lacks a number a search of
    ``space`` reads (:meth:`SensitivityReport.missing`: for example an Ω_a at a membrane
    width U, which reports measured before Ω_a saw U do not hold) — measured again, and
    overwritten."""
    if not path.exists():
        return None
    try:
        report = SensitivityReport.from_dict(read_json_file(path, "sensitivity cache", error=DataError))
    except Exception:  # noqa: BLE001 - a damaged cache of any kind is measured again
        return None
    if report.missing(space, output_error=output_error) is not None:
        return None
    if "network" not in report.settings:  # cached before the option existed, always on the full network
        report = dataclasses.replace(report, settings={**report.settings, "network": "full"})
    return report


def _write_cache(path: Path, report: SensitivityReport) -> None:
    text = json.dumps(report.to_dict(), indent=1)
    atomic_write_text(path, text, what=f"the sensitivity cache in {path.parent}", hint="set SPIKEBITS_CACHE to a writable folder")


@torch.no_grad()
def _input_currents(model: SpikingNetwork, batches: Sequence[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
    """Each layer's input current (what its neuron receives) on the batches, concatenated.

    Layers whose neuron never runs (a ResNet 1×1 shortcut reads its block conv1's spikes) are
    absent."""
    captured: dict[str, list[Tensor]] = {}
    handles = []
    for name, layer in model.spiking_layers().items():

        def hook(module: nn.Module, args: tuple, _name: str = name) -> None:
            captured.setdefault(_name, []).append(args[0].detach())

        handles.append(layer.neuron.register_forward_pre_hook(hook))
    try:
        for x, _ in batches:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {n: torch.cat(v) for n, v in captured.items()}


def _largest_quantized_model(evaluator: Any) -> SpikingNetwork:
    """The pretrained weights at the space's largest config (every unpinned decision at its
    largest W, S, T and, where searched, U; uniform where allowed; pins kept), step sizes calibrated on the first
    training batch (:func:`evaluators.training.calibrate`), in eval mode."""
    space = evaluator.space
    config = space.complete(space.nearest_config(), strict=True)
    model = apply_config(evaluator.full_precision_model(), config)
    with torch.no_grad():  # the forward only initialises α and γ
        calibrate(model, evaluator.data.train, device=evaluator.device)
    return model


def stopping(progress: Progress, stop: StopRequest | None) -> Progress:
    """``progress`` that checks ``stop`` after each item it hands out (a Hessian probe, a
    config's output error): a stop request ends the measurement within one item
    (:class:`space.TrainingStopped`)."""
    if stop is None:
        return progress

    def wrapped(iterable: Iterable, description: str, total: int) -> Iterator:
        for item in progress(iterable, description, total):
            yield item
            stop.check(description)

    return wrapped


def measure_sensitivity(
    evaluator: Any,
    *,
    probes: int = 200,
    tol: float = 1e-3,
    batches: int = 4,
    batch_size: int = 64,
    timesteps: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
    output_error: bool = True,
    network: str = "full",
) -> SensitivityReport:
    """Sensitivities of every layer of ``evaluator.space`` (pinned ones too), cached on disk.

    ``evaluator`` is an :class:`evaluators.Evaluator` (typed ``Any``: the evaluator module
    imports this one, so this one does not import it back).

    The model is the evaluator's pretrained full-precision network at ``timesteps`` steps
    (:func:`models.set_full_precision`; the image layer stays at T = 1), in eval mode. Probe and
    calibration data: the first ``batches`` batches of ``batch_size`` of the training set, in
    order. Per layer: Tr(H_l) of the synapse weights and Tr(H_a,l) of the input current
    (Hutchinson, cross-entropy loss, at most ``probes`` probes with relative tolerance ``tol``;
    weights and currents in two separate runs so that each stops on its own total), Ω_w for
    every (scheme, W) and Ω_a for every (S, T, U) of the layer's options, the Pearson kurtosis
    of the weights and, with ``output_error=True``, the output MSE of every choice of its
    options.

    **Membrane bits U.** Where the space searches U, each choice's numbers include it: the
    output error quantizes the layer alone at the whole choice, its input neuron at (S, T) with
    a U-bit membrane; the Hessian sensitivity Ω_w + Ω_a sees U through Ω_a, the spike error of
    the layer's input neuron at (S, T, U) weighted by the current's trace (Ω_w, the weights'
    term, does not depend on U). The traces themselves are taken once per layer, as without U.

    ``network`` chooses the network whose Hessian the traces are taken on
    (:data:`space.HESSIAN_NETWORKS`; the losses in full at :func:`_hessian_traces`): ``"full"``,
    the full-precision network above, L(W) = (1/n_b) Σ_b CE(f(x_b; W), y_b) (HAWQ);
    ``"quantized"`` (Lui & Neftci), the same pretrained weights at the space's largest config
    c_max, L(W) = (1/n_b) Σ_b CE(f_q(x_b; Q(W)), y_b), through the quantizers' straight-through
    gradients. Only the traces depend on ``network``: the currents behind Ω_a, the weights
    behind Ω_w and the kurtosis, and the output errors come from the full-precision network in
    both cases. ``timesteps`` is the T of the full-precision network; with "quantized" the
    traces run at c_max's T instead.

    A layer whose neuron never runs (a ResNet 1×1 shortcut, which reads its tie partner's
    spikes) gets Tr(H_a) = 0 and Ω_a = 0: its spikes are its tie partner's, one neuron serves
    the tied group, so the activation term belongs to the group once and is carried by its
    representative (the block's conv1, ``space.group_of(name)[0]``); summing Ω over a group's
    layers then counts it once. Its output errors still cover its own weight quantization.

    The report is cached as JSON next to the pretraining checkpoint (``evaluator.cache_dir`` or
    :func:`evaluators.training.default_cache_dir`), named by the pretraining cache key and a
    hash of these settings (``network`` among them, recorded in ``report.settings``) and the
    space (its membrane options U included, so a space with U, or with other U, is another
    file); a second call returns it without computing. An unreadable cache file, or one that
    lacks a number this space needs, is measured again and overwritten.

    Search code calls :meth:`Evaluator.sensitivity` (which calls this with its defaults and
    memoises the report) rather than this function.
    """
    check_sensitivity_metric(network, HESSIAN_NETWORKS, what="Hessian network")
    progress = stopping(progress or evaluator.progress or quiet, getattr(evaluator, "stop", None))
    settings = {
        "probes": probes, "tol": tol, "batches": batches, "batch_size": batch_size, "timesteps": timesteps, "seed": seed,
        "output_error": bool(output_error), "loss": "cross_entropy", "network": network,
    }
    path = _cache_path(evaluator, evaluator.new_model(), settings)
    cached = _read_cache(path, evaluator.space, bool(output_error))
    if cached is not None:
        return cached

    model = set_full_precision(evaluator.full_precision_model(), timesteps)
    model.eval()
    data = _first_batches(evaluator, batches, batch_size)
    measured = _Measured(evaluator, model, data, _input_currents(model, data))
    traces = _hessian_traces(measured, network, probes=probes, tol=tol, seed=seed, progress=progress)
    layers = _layer_sensitivities(measured, traces, with_output_error=output_error, progress=progress)
    report = SensitivityReport(layers=layers, probes=traces.weight_probes, settings=settings, activation_probes=traces.current_probes)
    _write_cache(path, report)
    return report


def _first_batches(evaluator: Any, batches: int, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """The first ``batches`` batches of ``batch_size`` of the training set, in order, on the
    evaluator's device."""
    device = evaluator.device
    data: list[tuple[Tensor, Tensor]] = []
    for i, (x, y) in enumerate(make_loader(evaluator.data.train, batch_size, shuffle=False)):
        if i >= batches:
            break
        data.append((x.to(device), y.to(device)))
    return data


@dataclass(frozen=True)
class _Measured:
    """What every step of a measurement reads: the evaluator, its full-precision ``model`` (in
    eval mode), the probe ``batches`` and each layer's input current on them
    (:func:`_input_currents`)."""

    evaluator: Any
    model: SpikingNetwork
    batches: list[tuple[Tensor, Tensor]]
    currents: dict[str, Tensor]


@dataclass(frozen=True)
class _Traces:
    """Hutchinson traces per layer, of the synapse weights (Tr(H_l)) and of the input current
    (Tr(H_a,l); only layers whose neuron runs), with the probes each run used."""

    weights: dict[str, float]
    weight_probes: int
    currents: dict[str, float]
    current_probes: int


def _hessian_traces(measured: _Measured, network: str, *, probes: int, tol: float, seed: int, progress: Progress) -> _Traces:
    """Tr(H_l) of every layer's synapse weights (probes seeded by ``seed``) and Tr(H_a,l) of the
    input current of every layer that has one (seeded by ``seed + 1``), two separate
    :func:`evaluators.sensitivity.hutchinson_traces` runs on the cross-entropy loss over the
    n_b probe batches, on the network ``network`` chooses:

    * ``"full"``: ``measured.model``, the full-precision network,
      L(W) = (1/n_b) Σ_b CE(f(x_b; W), y_b) (HAWQ).
    * ``"quantized"`` (Lui & Neftci): the same pretrained weights at the space's largest config
      c_max (``space.nearest_config()``: every unpinned decision at its largest W, S, T and,
      where searched, U; uniform where allowed; pins kept), step sizes calibrated on the first training batch
      (:func:`evaluators.training.calibrate`), eval mode, every layer at its own T from c_max:
      L(W) = (1/n_b) Σ_b CE(f_q(x_b; Q(W)), y_b), with W_q = α·clip(round(W/α), −Q_p, Q_p)
      (power-of-two levels where a layer allows only those) and spikes
      s_t = γ_t·clip(⌊v_t/γ_t + 0.5⌋, 0, 2^S − 1) over the T steps. Tr(H_l) is taken
      with respect to the float synapse weights W_l and Tr(H_a,l) to the neuron's input current,
      both through the quantizers' straight-through gradients (∂W_q/∂W = ∂s_t/∂v_t = 1 inside
      the clipping range, 0 outside, a mask that double backward treats as constant). With
      refined neurons f_q is then linear in W_l given the masks, so
      H_l = E_n[M_l J_nᵀ ∇²CE J_n M_l] (J_n the straight-through Jacobian of the logits, M_l the
      mask of W_l); binary LIF neurons add the curvature of their surrogate gradient.
    """
    hessian_model = measured.model if network == "full" else _largest_quantized_model(measured.evaluator)
    layers = hessian_model.spiking_layers()
    weights = {n: layer.synapse.weight for n, layer in layers.items()}
    data = measured.batches
    traces, used = hutchinson_traces(hessian_model, F.cross_entropy, data, weights, max_probes=probes, tol=tol, seed=seed, progress=progress)
    neurons = {n: layers[n].neuron for n in layers if n in measured.currents}
    act_traces, act_used = hutchinson_traces(
        hessian_model, F.cross_entropy, data, neurons, max_probes=probes, tol=tol, seed=seed + 1, progress=progress
    )
    return _Traces(traces, used, act_traces, act_used)


def _layer_sensitivities(
    measured: _Measured, traces: _Traces, *, with_output_error: bool, progress: Progress
) -> dict[str, LayerSensitivity]:
    """Every layer of the evaluator's space, in order: Ω_w of each (scheme, W) from its weight
    trace (:func:`evaluators.sensitivity.hawq_omega`), Ω_a of each (S, T, U) from its current
    and its current's trace (:func:`evaluators.sensitivity.activation_omega`; U over
    :attr:`space.LayerOptions.membrane_options`, just None where the layer does not search it;
    0 where its neuron never runs), its weights' kurtosis and, ``with_output_error``, the output
    MSE of each of its choices, U included, on the probe batches
    (:func:`evaluators.sensitivity.output_error`) — all on the full-precision network."""
    evaluator, model, currents = measured.evaluator, measured.model, measured.currents
    x_all = torch.cat([x for x, _ in measured.batches])
    with torch.no_grad():
        reference = model(x_all) if with_output_error else None
    layers = model.spiking_layers()
    specs = {s.name: s for s in evaluator.specs}
    results: dict[str, LayerSensitivity] = {}
    for name in evaluator.space.names:
        options, spec = evaluator.space.layers[name], specs[name]
        weight = layers[name].synapse.weight.detach()
        omega = {weight_key(sc, w): hawq_omega(traces.weights[name], weight, w, sc) for sc in options.schemes for w in options.w_bits}
        act = {
            spike_key(s, t, u): activation_omega(traces.currents[name], currents[name], s, t, spec.n_inputs, u) if name in currents else 0.0
            for s in options.s_bits
            for t in options.timesteps
            for u in options.membrane_options
        }
        errors = {}
        if with_output_error:
            choices = list(options.choices())
            for choice in progress(choices, f"output error {name}", len(choices)):
                errors[choice.short()] = output_error(model, name, choice, x_all, reference=reference)
        results[name] = LayerSensitivity(
            name=name,
            n_weights=spec.n_weights,
            n_inputs=spec.n_inputs,
            trace=traces.weights[name],
            activation_trace=traces.currents.get(name, 0.0),
            kurtosis=pearson_kurtosis(weight),
            omega=omega,
            activation_omega=act,
            output_error=errors,
        )
    return results
