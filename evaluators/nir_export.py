"""NIR export (Neuromorphic Intermediate Representation): a fine-tuned config as a graph for
neuromorphic toolchains, in one of two lowerings (``to_nir(model, lowering)``, CLI
``--nir-lowering``; ``"auto"``, the default, takes the standard one where it can express the
config, else the extended one).

**Standard lowering** (binary spikes: S = 1 in every layer after the input layer; T = 1), made
of nodes that snnTorch's ``import_from_nir`` loads (LIF, Conv2d, Affine, SumPool2d,
Input, Output); ``lowering="standard"`` on another config is refused in one line:

* every neuron is a ``LIF`` population ``L.neuron`` with τ = dt = :data:`DT` (1e-4 s, snnTorch's
  importer's fixed dt), r = 1, v_leak = 0: one Euler step gives v = I, and with τ = dt it forgets
  between steps, so an importer that holds the input for more steps repeats the T = 1 answer.
  Its threshold is the float64 just below γ/2 (NIR fires where v > θ; the refined neuron at S = 1
  fires s = γ·[v ≥ γ/2]). The soft reset (v −= s) does not matter at T = 1; NIR's LIF resets
  to v_reset = 0;
* the input layer's quantizer k₀ = clip(⌊x/γ₀ + ½⌋, 0, 2^S₀ − 1) is in the graph: Q = 2^S₀ − 1 LIF
  populations ``L.neuron.level1`` … ``levelQ`` read the image (thresholds (j − ½)·γ₀), a
  thermometer code whose sum, k₀, the first synapse reads (several edges into a node add up);
  the graph's input is the image itself;
* a synapse ``L.synapse`` (``Conv2d``, or ``Affine``; a linear synapse on a flattened map becomes
  a ``Conv2d`` whose kernel covers the map, since snnTorch's and Norse's importers turn NIR's
  ``Flatten`` into ``torch.nn.Flatten(0, -1)``, which flattens the batch too) has the weights
  w_int·weight_scale with weight_scale = a·scale·γ per output channel (w_int:
  :func:`evaluators.hardware.integer_weights`; its metadata holds ``weight_scale``, so
  w_int = weight / weight_scale). BatchNorm a·y + c (inference statistics) folds into it
  (weight_scale·a, bias a·b + c); average pooling is a ``SumPool2d`` with 1/area folded in
  (pooling without padding that tiles its map, after a synapse); flattening is no node. The
  output is the logits, shape [classes, 1, 1] after a flattened map.
* the graph's metadata states ``lowering``, ``dt``, ``timesteps`` (1) and ``input_step``/``input_bits``.

**Extended lowering** (any S, T = 1), for multi-bit spikes; it uses ``I``, ``Threshold``,
``Scale`` and ``Delay``, which the snnTorch, Norse and Sinabs importers do not map.
**Lowering** of each synaptic layer L (W-bit weights, S-bit spikes, T steps), in discrete time
(dt = one step):

* its input neuron, the refined neuron v_t = v_{t−1} + x_t − s_{t−1},
  s_t = γ·clip(⌊v_t/γ + 0.5⌋, 0, 2^S − 1), becomes:
  - ``L.neuron.int``: an integrator ``I`` (r = 1) of the input current;
  - ``L.neuron.thr1`` … ``L.neuron.thrQ``: Q = 2^S − 1 binary ``Threshold`` nodes at
    (j − ½)·γ, a thermometer code whose sum is the level k_t = #{j : v_t ≥ (j − ½)γ} (the
    rounding and the clip exactly). NIR's threshold is strict (v > θ); each θ is the float64
    just below (j − ½)γ, so v > θ ⟺ v ≥ (j − ½)γ for every float64 v;
  - the soft reset, a subtractive feedback: every threshold → ``L.neuron.reset``
    (``Scale`` −γ) → ``L.neuron.delay`` (``Delay`` of one step) → the integrator.
* its synapse is ``L.synapse``, a ``Conv2d`` or ``Affine`` with the *integer* weights w_int
  (:func:`evaluators.hardware.integer_weights`: uniform levels, or ±2^(E−k) for power-of-two
  weights) fed by the sum of the thresholds (the integer spike levels), then ``L.scale``, a
  ``Scale`` by scale·γ (α·γ for uniform weights); a bias b enters the synapse as b/(scale·γ).
* BatchNorm a·y + c (inference statistics, a = w/√(σ² + ε), c = β − μ·a) right after a layer folds
  into it: ``L.scale`` becomes a·scale·γ per channel and the synapse's bias gains c/(a·scale·γ)
  (where some a is 0, or elsewhere, it is a 1×1 ``Conv2d`` with a diagonal kernel, or a diagonal
  ``Affine``); average pooling is ``AvgPool2d``;
  flattening is ``Flatten``. Several edges into one node add up (NIR's rule).
* The graph's input is the first layer's integer input levels k₀ = clip(⌊x/γ₀ + ½⌋, 0, 2^S₀ − 1)
  (the quantized image a chip receives; γ₀ and S₀ are in the graph's metadata) and its
  output the last layer's current (the logits).

Every node of layer L carries ``layer``, ``w_bits``, ``s_bits``, ``timesteps`` and ``scheme``
(and ``u_bits`` where the layer stores a U-bit membrane) in its metadata; the graph's metadata
holds the model, the config and this lowering.

**Membrane bits U** (``LayerChoice.u_bits``, ``docs/membrane_bits.md``). NIR has no membrane
width: its LIF, I and Threshold hold real numbers. A U-bit neuron stores its charge as a
code c = clip(⌊v/δ + ½⌋, −2^(U−1), 2^(U−1) − 1) of step δ = γ·2^(−F) and fires from it; in
one step from v₀ = 0 that is exactly a threshold neuron on the unrounded v, with shifted
thresholds (:func:`firing_thresholds`): level j fires where c ≥ m_j = ⌈(j − ½)·2^F⌉, i.e.
v ≥ (m_j − ½)·δ (= (j − ½)·γ − δ/2 when F ≥ 1), and a level whose m_j exceeds the top code
2^(U−1) − 1 is never reached (its threshold node is left out). Both lowerings are T = 1
graphs, so the exported graph computes the model's spikes, U included; U itself is recorded
(``u_bits`` in the nodes' metadata, the config in the graph's) for a toolchain that maps the
membrane onto U-bit registers. Run for more steps, the graph's integrator does not round or
saturate as the U-bit membrane does (the T = 1 contract below). With U on the input layer the
extended lowering's input levels k₀ are those of the U-bit quantizer (the graph's metadata
gives ``input_membrane_bits`` and the formula).

**Time.** NIR has one time base. A spikebits layer hands the next layer the *mean* of its T
spike maps as a constant current (temporal squeezing), which a graph that streams each step's
spikes onward does not compute; with T = 1 in every layer after the input the two are the
same. So a config whose layers use different T is refused, and so is one whose layers all run
T > 1, or whose input layer runs T > 1 (one-line errors that say so). Both lowerings are T = 1 graphs:
present each input for one step.

**Architectures:** chains of spiking layers, BatchNorm, average pooling and flatten
(``digits_cnn``, ``vgg_dvs`` with ``pool="avg"``), refined neurons. Residual additions,
max-pooling, LIF neurons and attention are refused in one line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from spikebits.evaluators.activity import spike_bits, spike_steps
from spikebits.evaluators.hardware import integer_weights
from spikebits.models import RefinedNeuron, SpikingLayer, SpikingNetwork, current_config
from spikebits.models.quantizers import membrane_fraction_bits
from spikebits.space import ConfigError, LayerChoice, atomic_path, check_output_file, one_line

#: The lowerings :func:`to_nir` writes; ``"auto"`` picks standard where it can.
LOWERINGS = ("auto", "standard", "extended")

#: The standard lowering's time step in seconds: snnTorch's importer discretises with this dt,
#: and every LIF node's time constant τ equals it (one Euler step gives v = r·I).
DT = 1e-4

#: What the export covers, for the one-line refusals.
COVERS = "chains of spiking layers, BatchNorm, average pooling and flatten (digits_cnn, vgg_dvs with pool='avg')"


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, SpikingLayer) or super().is_leaf_module(m, qualname)


def _import_nir():  # noqa: ANN202 - the nir module
    try:
        import nir
    except ImportError:
        raise ConfigError("the NIR export needs the nir package; install it with pip install 'spikebits[nir]'") from None
    return nir


def check_exportable(model: SpikingNetwork) -> None:
    """One-line :class:`space.ConfigError` unless every layer is configured, runs a refined
    neuron at one time base with T = 1 after the input layer (module docstring)."""
    config = current_config(model)
    if config is None:
        raise ConfigError("the NIR export writes a quantized network; configure every layer (a fine-tuned config) first")
    layers = model.spiking_layers()
    names = list(layers)
    if config[names[0]].timesteps != 1:
        raise ConfigError(f"layer {names[0]} reads the image at T = {config[names[0]].timesteps}, and a NIR graph presents it for one "
                          "step; export a config with T = 1")
    steps = {name: config[name].timesteps for name in names[1:]}
    if len(set(steps.values())) > 1:
        by_t: dict[int, list[str]] = {}
        for name, t in steps.items():
            by_t.setdefault(t, []).append(name)
        shown = ", ".join(f"T = {t} ({by_t[t][0]}{' …' if len(by_t[t]) > 1 else ''})" for t in sorted(by_t))
        raise ConfigError(f"NIR has one time base, and this config runs its layers at {shown}; export a config whose layers share T = 1")
    if steps and next(iter(steps.values())) != 1:
        t = next(iter(steps.values()))
        raise ConfigError(
            f"every layer runs T = {t}: a spikebits layer hands the next one the mean of its {t} spike maps, which a streaming "
            "NIR graph does not compute; export a config with T = 1"
        )
    for name, layer in layers.items():
        if not isinstance(layer.neuron, RefinedNeuron):
            raise ConfigError(f"the NIR export lowers refined neurons; layer {name} has a {type(layer.neuron).__name__}")
        if layer.output_neuron is not None or layer.spike_source not in (None, name):
            raise ConfigError(f"the NIR export covers {COVERS}; layer {name} reads or makes spikes outside that chain")


def firing_thresholds(gamma: float, s_bits: int, u_bits: int | None = None) -> list[float]:
    """θ_j, j = 1 … n: the refined neuron at S = ``s_bits``, step γ, fires level ≥ j in one step
    from v₀ = 0 exactly where its charge v ≥ θ_j (level k = #{j : v ≥ θ_j}).

    Unquantized membrane (U None): θ_j = (j − ½)·γ, j = 1 … 2^S − 1. U-bit membrane:
    F = :func:`models.quantizers.membrane_fraction_bits` (U, S), δ = γ·2^(−F),
    m_j = ⌈(j − ½)·2^F⌉ and θ_j = (m_j − ½)·δ, for the levels whose m_j ≤ 2^(U−1) − 1 (the
    top code; higher levels are never reached). Why: the stored code c = ⌊v/δ + ½⌋ (saturated)
    fires level ≥ j iff c·2^(−F) + ½ ≥ j iff c ≥ m_j iff v ≥ (m_j − ½)·δ."""
    top = 2**s_bits - 1
    if u_bits is None:
        return [(j - 0.5) * gamma for j in range(1, top + 1)]
    fraction = membrane_fraction_bits(u_bits, s_bits)
    delta = gamma * 2.0**-fraction
    highest = 2 ** (u_bits - 1) - 1
    thresholds = []
    for j in range(1, top + 1):
        m = j if fraction == 0 else (2 * j - 1) * 2 ** (fraction - 1)  # ⌈(j − ½)·2^F⌉
        if m > highest:
            break
        thresholds.append((m - 0.5) * delta)
    return thresholds


def _node_metadata(name: str, choice: LayerChoice) -> dict[str, Any]:
    """The metadata every node of layer ``name`` carries: its W, S, T, scheme and, where set, U."""
    meta = {"layer": name, "w_bits": choice.w_bits, "s_bits": choice.s_bits, "timesteps": choice.timesteps, "scheme": choice.scheme}
    if choice.u_bits is not None:
        meta["u_bits"] = choice.u_bits
    return meta


def _bn_parameters(bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(a, c) with BN(x) = a·x + c per channel (running statistics)."""
    var = bn.running_var.detach().double().cpu().numpy()
    mean = bn.running_mean.detach().double().cpu().numpy()
    a = 1.0 / np.sqrt(var + bn.eps)
    c = -mean * a
    if bn.affine:
        w, b = bn.weight.detach().double().cpu().numpy(), bn.bias.detach().double().cpu().numpy()
        a, c = a * w, c * w + b
    return a, c


def _pair(value: Any) -> np.ndarray:
    return np.array(value if isinstance(value, (tuple, list)) else (value, value), dtype=np.int64)


def standard_refusal(model: SpikingNetwork) -> str | None:
    """Why the standard lowering cannot express ``model`` (a configured, exportable model), or
    None: it needs binary spikes (S = 1) in every layer after the input layer."""
    config = current_config(model)
    for name in model.layer_names[1:]:
        if config[name].s_bits != 1:
            return (f"the standard NIR lowering has binary LIF neurons (S = 1 after the input layer) and layer {name} fires "
                    f"S = {config[name].s_bits}; export with --nir-lowering extended")
    return None


def chosen_lowering(model: SpikingNetwork, lowering: str = "auto") -> str:
    """``"standard"`` or ``"extended"``: ``lowering`` itself, or for ``"auto"`` standard when
    the config has S = 1 in every layer after the input (:func:`standard_refusal`)."""
    if lowering not in LOWERINGS:
        raise ConfigError(f"unknown NIR lowering {lowering!r}; choose one of {', '.join(LOWERINGS)}")
    check_exportable(model)
    refusal = standard_refusal(model)
    if lowering == "standard" and refusal is not None:
        raise ConfigError(refusal)
    if lowering == "auto":
        return "extended" if refusal is not None else "standard"
    return lowering


def to_nir(model: SpikingNetwork, lowering: str = "auto") -> Any:
    """The ``nir.NIRGraph`` of ``model`` (configured, step sizes initialised) in the
    ``"standard"`` or ``"extended"`` lowering, ``"auto"``: standard where it can express the
    config (module docstring)."""
    nir = _import_nir()
    chosen = chosen_lowering(model, lowering)
    config = current_config(model)
    was_training = model.training
    model.eval()
    try:
        return _lower_standard(nir, model, config) if chosen == "standard" else _lower(nir, model, config)
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class _Step:
    """One operation of the traced model, evaluated on a zero input (for the shapes).

    ``kind``: ``"input"``, ``"layer"`` (a :class:`SpikingLayer`), ``"module"`` (BatchNorm,
    pooling, identity), ``"flatten"`` or ``"output"``; ``key`` the fx node, ``name`` the module
    path of a layer (else the fx node); ``source`` the fx node it reads (None for the input)."""

    kind: str
    key: str
    name: str
    source: str | None
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    module: nn.Module | None = None


def _walk(model: SpikingNetwork) -> list[_Step]:
    """The model's operations in order (eval mode), or a one-line refusal."""
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # noqa: BLE001 - data-dependent control flow and the like
        raise ConfigError(f"the NIR export covers {COVERS}; {model.arch[0]} cannot be traced ({one_line(err, 120)})") from None
    gm = fx.GraphModule(model, graph)
    env: dict[str, torch.Tensor] = {}
    steps: list[_Step] = []
    with torch.no_grad():
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = torch.zeros((1, *model.input_shape))
                steps.append(_Step("input", node.name, node.name, None, tuple(model.input_shape), tuple(model.input_shape)))
                continue
            if node.op == "output":
                src = node.args[0]
                shape = tuple(env[src.name].shape[1:])
                steps.append(_Step("output", node.name, node.name, src.name, shape, shape))
                continue
            args = [env[a.name] if isinstance(a, fx.Node) else a for a in node.args]
            src = node.args[0].name if node.args and isinstance(node.args[0], fx.Node) else None
            if node.op == "call_module":
                module = gm.get_submodule(node.target)
                env[node.name] = module(args[0])
                kind = "layer" if isinstance(module, SpikingLayer) else "module"
                name = node.target if kind == "layer" else node.name
                steps.append(_Step(kind, node.name, name, src, tuple(args[0].shape[1:]), tuple(env[node.name].shape[1:]), module))
            elif node.op == "call_method" and node.target == "flatten" and tuple(node.args[1:]) in ((1,), ()) and not node.kwargs:
                env[node.name] = args[0].flatten(1)
                steps.append(_Step("flatten", node.name, node.name, src, tuple(args[0].shape[1:]), tuple(env[node.name].shape[1:])))
            else:
                what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
                raise ConfigError(f"the NIR export covers {COVERS}; {model.arch[0]} uses {what}")
    return steps


def _lower(nir: Any, model: SpikingNetwork, config: Any) -> Any:
    """The extended graph of ``model`` in eval mode (:func:`to_nir`, module docstring)."""
    layers = model.spiking_layers()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    out_of: dict[str, str] = {}  # fx node → the NIR node holding its value
    first = model.layer_names[0]
    with torch.no_grad():
        for step in _walk(model):
            if step.kind == "input":
                nodes["input"] = nir.Input(input_type={"input": np.array(step.in_shape)})
                out_of[step.key] = "input"
                continue
            if step.kind == "output":
                nodes["output"] = nir.Output(output_type={"output": np.array(step.in_shape)})
                edges.append((out_of[step.source], "output"))
                continue
            if step.kind == "layer":
                name = step.name
                out_of[step.key] = _lower_layer(nir, nodes, edges, name, layers[name], config[name], step.in_shape,
                                            step.out_shape, out_of[step.source], encoder=name == first)
                continue
            if step.kind == "module" and _fold_batchnorm(nodes, out_of[step.source], step.name, step.module):
                out_of[step.key] = out_of[step.source]
                continue
            if step.kind == "module":
                nodes[step.name] = _lower_module(nir, step.name, step.module, step.in_shape, step.out_shape)
            else:  # flatten
                nodes[step.name] = nir.Flatten(input_type={"input": np.array(step.in_shape)}, start_dim=0, end_dim=-1)
            edges.append((out_of[step.source], step.name))
            out_of[step.key] = step.name
    u0 = config[first].u_bits
    metadata = _graph_metadata(
        model, config, "extended",
        time_base="discrete steps, dt = 1; every layer at T = 1",
        input="integer levels k0 = clip(floor(x / input_step + 0.5), 0, 2^input_bits - 1) of the first layer" if u0 is None else
        "integer levels k0 = clip(floor(c * 2^-F + 0.5), 0, 2^input_bits - 1) of the first layer's U-bit membrane, "
        "c = clip(floor(x / (input_step * 2^-F) + 0.5), -2^(U-1), 2^(U-1) - 1), U = input_membrane_bits, F = input_fraction_bits",
    )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _graph_metadata(model: SpikingNetwork, config: Any, lowering: str, **fields: Any) -> dict[str, Any]:
    """The graph's metadata: the model, its config, the ``lowering`` and its ``fields`` (time
    base, input), the input quantizer's step and bits, the threshold convention."""
    neuron = model.spiking_layers()[model.layer_names[0]].neuron
    membrane = {}
    if neuron.membrane_bits is not None:
        u = int(neuron.membrane_bits)
        membrane = {"input_membrane_bits": u, "input_fraction_bits": membrane_fraction_bits(u, int(spike_bits(neuron, 1)[0]))}
    return {
        "generator": "spikebits",
        "model": model.arch[0],
        "model_kwargs": json.dumps(model.arch[1], default=str),
        "config": config.to_json(indent=None),
        "lowering": lowering,
        **fields,
        "input_step": float(spike_steps(neuron, 1)[0]),
        "input_bits": int(spike_bits(neuron, 1)[0]),
        **membrane,
        "threshold": "strict (v > theta) at the float64 just below (j - 1/2)*gamma: v >= (j - 1/2)*gamma; with a U-bit membrane "
        "(u_bits in the node's metadata) at the float64 just below (m_j - 1/2)*gamma*2^-F, m_j = ceil((j - 1/2)*2^F), "
        "F = max(0, floor((U - S - 1)/2)), levels with m_j > 2^(U-1) - 1 left out",
        "lowering_doc": "spikebits.evaluators.nir_export",
    }


@dataclass
class _Synapse:
    """A synapse of the standard lowering while BatchNorm and pooling fold into it:
    weight = w_int·weight_scale (per output channel), and ``area``, the product of the sum
    pools after it so far (a BatchNorm shift c enters the bias as c/area)."""

    layer: str
    w_int: np.ndarray
    weight_scale: np.ndarray
    bias: np.ndarray
    area: float
    make: Any  # (weight, bias, metadata) → the NIR node
    meta: dict


def _lif(nir: Any, shape: tuple[int, ...], theta: float, meta: dict) -> Any:
    """A LIF population with τ = dt (it forgets between steps: T = 1 semantics at any number of
    steps), r = 1, no leak, firing where v > θ (θ: the float64 just below the rounding point)."""
    return nir.LIF(tau=np.full(shape, DT), r=np.ones(shape), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, np.nextafter(theta, -math.inf)), v_reset=np.zeros(shape), metadata=meta)


def _lower_standard(nir: Any, model: SpikingNetwork, config: Any) -> Any:
    """The standard graph of ``model`` in eval mode (:func:`to_nir`, module docstring)."""
    layers = model.spiking_layers()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    out_of: dict[str, str] = {}  # fx node → the NIR node holding its value
    shape_of: dict[str, tuple[int, ...]] = {}  # fx node → the shape of that value in the graph (no Flatten)
    open_synapse: dict[str, _Synapse] = {}  # fx node → the synapse whose current it still is (BatchNorm/pooling fold in)
    synapses: dict[str, _Synapse] = {}
    first = model.layer_names[0]
    for step in _walk(model):
        if step.kind == "input":
            nodes["input"] = nir.Input(input_type={"input": np.array(step.in_shape)})
            out_of[step.key], shape_of[step.key] = "input", step.in_shape
            continue
        src, shape = out_of[step.source], shape_of[step.source]
        if step.kind == "output":
            nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
            edges.append((src, "output"))
            continue
        if step.kind == "layer":
            name, layer, choice = step.name, layers[step.name], config[step.name]
            meta = _node_metadata(name, choice)
            gamma = float(spike_steps(layer.neuron, 1)[0])
            thresholds = firing_thresholds(gamma, choice.s_bits if name == first else 1, choice.u_bits)
            levels = len(thresholds)
            spikes = [f"{name}.neuron"] if name != first else [f"{name}.neuron.level{j}" for j in range(1, levels + 1)]
            for j, (lif, theta) in enumerate(zip(spikes, thresholds, strict=True), start=1):
                role = "input neuron" if name != first else f"input quantizer: level {j} of {levels} (thermometer)"
                nodes[lif] = _lif(nir, shape, theta, {**meta, "role": role})
                edges += [(src, lif), (lif, f"{name}.synapse")]
            out_of[step.key] = f"{name}.synapse"
            shape_of[step.key] = _standard_synapse(nir, synapses, name, layer, gamma, shape, step.out_shape, meta)
            open_synapse[step.key] = synapses[name]
            continue
        if step.kind == "flatten":  # the graph keeps the map; a linear synapse reading it becomes a full-map convolution
            out_of[step.key], shape_of[step.key] = src, shape
            if step.source in open_synapse:
                open_synapse[step.key] = open_synapse[step.source]
            continue
        module = step.module
        chain = open_synapse.get(step.source)
        if isinstance(module, nn.Identity) or (
            isinstance(module, nn.AvgPool2d) and module.ceil_mode and step.in_shape[1:] == (1, 1) == step.out_shape[1:]
        ):
            out_of[step.key], shape_of[step.key] = src, shape
            if chain is not None:
                open_synapse[step.key] = chain
            continue
        if chain is None:
            raise ConfigError(f"the standard NIR lowering folds BatchNorm and average pooling into the synapse before them, and "
                              f"{step.name} follows none; export with --nir-lowering extended")
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            a, c = _bn_parameters(module)
            chain.weight_scale, chain.bias = chain.weight_scale * a, chain.bias * a + c / chain.area
            out_of[step.key], shape_of[step.key] = src, shape
        elif isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            kernel, stride = _plain_pool(step.name, module, step.in_shape, step.out_shape)
            area = float(kernel[0] * kernel[1])
            chain.weight_scale, chain.bias, chain.area = chain.weight_scale / area, chain.bias / area, chain.area * area
            nodes[step.name] = nir.SumPool2d(kernel_size=kernel, stride=stride, padding=np.zeros(2, dtype=np.int64),
                                             metadata={"role": f"average pooling {step.name} (1/{int(area)} folded into {chain.layer}.synapse)"})
            edges.append((src, step.name))
            out_of[step.key], shape_of[step.key] = step.name, (shape[0], *step.out_shape[1:])
        else:
            raise ConfigError(f"the NIR export covers {COVERS}; it has no lowering for {type(module).__name__} ({step.name})")
        open_synapse[step.key] = chain
    for name, syn in synapses.items():
        scale = syn.weight_scale.reshape((-1,) + (1,) * (syn.w_int.ndim - 1))
        nodes[f"{name}.synapse"] = syn.make(syn.w_int * scale, syn.bias, {
            **syn.meta, "role": "synapse (integer weights x weight_scale per output channel; BatchNorm and pooling folded in)",
            "weight_scale": syn.weight_scale})
    metadata = _graph_metadata(
        model, config, "standard", dt=DT, timesteps=1,
        time_base=f"one step of dt = {DT} s (every LIF has tau = dt, r = 1: it forgets between steps); present each image for one step",
        input="the image x as the model reads it; the first layer's quantizer is in the graph (LIF nodes <first>.neuron.level<j>)",
    )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _standard_synapse(
    nir: Any, synapses: dict, name: str, layer: SpikingLayer, gamma: float,
    in_shape: tuple[int, ...], out_shape: tuple[int, ...], meta: dict,
) -> tuple[int, ...]:
    """Record layer ``name``'s synapse (weight w_int·scale·γ, its bias) in ``synapses``; returns
    the shape of its output in the graph."""
    w_int, scale = integer_weights(layer)
    w = w_int.cpu().numpy()
    syn = layer.synapse
    out = w.shape[0]
    bias = syn.bias.detach().double().cpu().numpy() if syn.bias is not None else np.zeros(out)
    if isinstance(syn, nn.Conv2d):
        if syn.padding_mode != "zeros" or isinstance(syn.padding, str):
            raise ConfigError(f"layer {name}: the NIR export takes integer zero padding")
        stride, padding, dilation, groups = _pair(syn.stride), _pair(syn.padding), _pair(syn.dilation), syn.groups
        graph_shape = out_shape
    elif len(in_shape) == 1:
        stride = padding = dilation = groups = None
        graph_shape = (out,)
    else:  # a linear synapse on a flattened map: a convolution whose kernel covers the map
        w = w.reshape(out, *in_shape)
        stride, padding, dilation, groups = _pair(1), _pair(0), _pair(1), 1
        graph_shape = (out, 1, 1)

    def make(weight: np.ndarray, b: np.ndarray, metadata: dict) -> Any:
        if stride is None:
            return nir.Affine(weight=weight, bias=b, metadata=metadata)
        return nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=weight, stride=stride, padding=padding, dilation=dilation,
                          groups=groups, bias=b, metadata=metadata)

    synapses[name] = _Synapse(name, w, np.full(out, scale * gamma), bias, 1.0, make, meta)
    return graph_shape


def _plain_pool(name: str, module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, stride) of an average pooling without padding that tiles its input exactly,
    else a one-line refusal (the standard lowering sums and folds 1/area into the synapse)."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if any(in_shape[1 + d] % out_shape[1 + d] for d in range(2)):
            raise ConfigError(f"the NIR export takes adaptive average pooling to a divisor of the map size; {name} does not")
        kernel = np.array([in_shape[1] // out_shape[1], in_shape[2] // out_shape[2]])
        return kernel, kernel
    kernel, stride, padding = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)
    if padding.any() or module.divisor_override or any((in_shape[1 + d] - kernel[d]) % stride[d] for d in range(2)):
        raise ConfigError(f"the standard NIR lowering takes average pooling without padding that tiles its map; {name} pools "
                          f"{in_shape[1]}x{in_shape[2]} maps otherwise; export with --nir-lowering extended")
    return kernel, stride


def _fold_batchnorm(nodes: dict, source: str, name: str, module: nn.Module) -> bool:
    """Fold a BatchNorm a·y + c that reads a layer's ``L.scale`` node (y = step·u, u the integer
    synapse's output) into it: ``L.scale`` becomes a·step per channel and the synapse's bias
    gains c/(a·step). False (nothing changed) where it does not apply or some a is 0."""
    if not isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) or not source.endswith(".scale"):
        return False
    a, c = _bn_parameters(module)
    scale_node, synapse = nodes[source], nodes[source[: -len(".scale")] + ".synapse"]
    if not np.all(a != 0) or scale_node.scale.shape[0] != a.shape[0]:
        return False
    per_channel = a.reshape((-1,) + (1,) * (scale_node.scale.ndim - 1))
    step = scale_node.scale.reshape(a.shape[0], -1)[:, 0]
    synapse.bias = synapse.bias + c / (a * step)
    scale_node.scale = scale_node.scale * per_channel
    scale_node.metadata = {**scale_node.metadata, "role": f"scale (weight step x spike step x BatchNorm {name})"}
    return True


def _lower_layer(
    nir: Any, nodes: dict, edges: list, name: str, layer: SpikingLayer, choice: Any,
    in_shape: tuple[int, ...], out_shape: tuple[int, ...], source: str, *, encoder: bool,
) -> str:
    """Nodes and edges of one spiking layer; returns the node holding its output current."""
    meta = _node_metadata(name, choice)
    gamma = float(spike_steps(layer.neuron, 1)[0])
    spikes = [source]
    if not encoder:
        thresholds = firing_thresholds(gamma, choice.s_bits, choice.u_bits)
        q = len(thresholds)
        ones = np.ones(in_shape)
        nodes[f"{name}.neuron.int"] = nir.I(r=ones, metadata={**meta, "role": "membrane (integrator)"})
        nodes[f"{name}.neuron.reset"] = nir.Scale(scale=np.full(in_shape, -gamma), metadata={**meta, "role": "soft reset"})
        nodes[f"{name}.neuron.delay"] = nir.Delay(delay=ones, metadata={**meta, "role": "one-step delay of the reset"})
        edges += [(source, f"{name}.neuron.int"), (f"{name}.neuron.reset", f"{name}.neuron.delay"),
                  (f"{name}.neuron.delay", f"{name}.neuron.int")]
        spikes = []
        for j, level_at in enumerate(thresholds, start=1):
            theta = np.nextafter(level_at, -math.inf)
            thr = f"{name}.neuron.thr{j}"
            nodes[thr] = nir.Threshold(threshold=np.full(in_shape, theta), metadata={**meta, "role": f"spike bit {j} of {q} (thermometer)"})
            edges += [(f"{name}.neuron.int", thr), (thr, f"{name}.neuron.reset")]
            spikes.append(thr)
    w_int, scale = integer_weights(layer)
    w = w_int.cpu().numpy()
    syn = layer.synapse
    step = scale * gamma
    bias = syn.bias.detach().double().cpu().numpy() / step if syn.bias is not None else np.zeros(w.shape[0])
    if isinstance(syn, nn.Conv2d):
        if syn.padding_mode != "zeros" or isinstance(syn.padding, str):
            raise ConfigError(f"layer {name}: the NIR export takes integer zero padding")
        node = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=w, stride=_pair(syn.stride), padding=_pair(syn.padding),
                          dilation=_pair(syn.dilation), groups=syn.groups, bias=bias, metadata={**meta, "role": "synapse (integer weights)"})
    else:
        node = nir.Affine(weight=w, bias=bias, metadata={**meta, "role": "synapse (integer weights)"})
    nodes[f"{name}.synapse"] = node
    nodes[f"{name}.scale"] = nir.Scale(scale=np.full(out_shape, step), metadata={**meta, "role": "scale (weight step x spike step)"})
    edges += [(s, f"{name}.synapse") for s in spikes] + [(f"{name}.synapse", f"{name}.scale")]
    return f"{name}.scale"


def _lower_module(nir: Any, name: str, module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Any:
    if isinstance(module, nn.BatchNorm2d):
        a, c = _bn_parameters(module)
        # a 1×1 convolution with a diagonal kernel (NIR infers a grouped convolution's input
        # channels from its kernel alone)
        return nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=np.diag(a)[:, :, None, None], stride=_pair(1), padding=_pair(0),
                          dilation=_pair(1), groups=1, bias=c, metadata={"role": f"BatchNorm {name} (inference)"})
    if isinstance(module, nn.BatchNorm1d):
        a, c = _bn_parameters(module)
        return nir.Affine(weight=np.diag(a), bias=c, metadata={"role": f"BatchNorm {name} (inference)"})
    if isinstance(module, nn.AvgPool2d):
        kernel, stride, padding = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)
        exact = all((in_shape[1 + d] + 2 * padding[d] - kernel[d]) % stride[d] == 0 for d in range(2))
        if module.ceil_mode and tuple(in_shape[1:]) == (1, 1) == tuple(out_shape[1:]) and not padding.any():
            return nir.Scale(scale=np.ones(in_shape), metadata={"role": f"average pooling {name} of a 1×1 map (the map itself)"})
        if (module.ceil_mode and not exact) or (padding.any() and not module.count_include_pad) or module.divisor_override:
            raise ConfigError(f"the NIR export takes plain average pooling; {name} pools {in_shape[1]}×{in_shape[2]} maps with "
                              "ceil_mode/padding options NIR's AvgPool2d lacks")
        return nir.AvgPool2d(kernel_size=kernel, stride=stride, padding=padding, metadata={"role": f"average pooling {name}"})
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if any(in_shape[1 + d] % out_shape[1 + d] for d in range(2)):
            raise ConfigError(f"the NIR export takes adaptive average pooling to a divisor of the map size; {name} does not")
        kernel = np.array([in_shape[1] // out_shape[1], in_shape[2] // out_shape[2]])
        return nir.AvgPool2d(kernel_size=kernel, stride=kernel, padding=np.zeros(2, dtype=np.int64), metadata={"role": f"average pooling {name}"})
    if isinstance(module, nn.Identity):
        return nir.Scale(scale=np.ones(in_shape), metadata={"role": f"identity {name}"})
    raise ConfigError(f"the NIR export covers {COVERS}; it has no lowering for {type(module).__name__} ({name})")


def write_nir(model: SpikingNetwork, path: str | os.PathLike[str], lowering: str = "auto") -> dict[str, Any]:
    """Write ``model``'s NIR graph (:func:`to_nir`) to ``path`` (HDF5, replaced atomically);
    returns a summary (lowering, nodes, edges, bytes)."""
    nir = _import_nir()
    path = Path(path)
    check_output_file(path, f"--out {path}")
    graph = to_nir(model, lowering)
    with atomic_path(path, what=str(path), hint="choose a writable --out") as tmp:
        nir.write(tmp, graph)
    return {"lowering": str(graph.metadata["lowering"]), "nodes": len(graph.nodes), "edges": len(graph.edges), "file_bytes": path.stat().st_size}
