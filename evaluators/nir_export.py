"""NIR export (Neuromorphic Intermediate Representation): a fine-tuned config as a graph that
Lava, SpiNNaker, Speck/Sinabs, snnTorch, Norse and SpikingJelly read.

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
* BatchNorm (inference statistics) is a 1×1 ``Conv2d`` with a diagonal kernel (or a diagonal ``Affine``)
  with weight w/√(σ² + ε) and bias β − μ·w/√(σ² + ε); average pooling is ``AvgPool2d``;
  flattening is ``Flatten``. Several edges into one node add up (NIR's rule).
* The graph's input is the first layer's integer input levels k₀ = clip(⌊x/γ₀ + ½⌋, 0, 2^S₀ − 1)
  (the quantized image a chip receives; γ₀ and S₀ are in the graph's metadata) and its
  output the last layer's current (the logits).

Every node of layer L carries ``layer``, ``w_bits``, ``s_bits``, ``timesteps`` and ``scheme``
in its metadata; the graph's metadata holds the model, the config and this lowering.

**Time.** NIR has one time base. A spikebits layer hands the next layer the *mean* of its T
spike maps as a constant current (temporal squeezing), which a graph that streams each step's
spikes onward does not compute; with T = 1 in every layer after the input the two are the
same. So a config whose layers use different T is refused, and so is one whose layers all run
T > 1 (one-line errors that say so).

**Architectures:** chains of spiking layers, BatchNorm, average pooling and flatten
(``digits_cnn``, ``vgg_dvs`` with ``pool="avg"``), refined neurons. Residual additions,
max-pooling, LIF neurons and attention are refused in one line.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from spikebits.evaluators.activity import spike_bits, spike_steps
from spikebits.evaluators.hardware import integer_weights
from spikebits.models import RefinedNeuron, SpikingLayer, SpikingNetwork, current_config
from spikebits.space import ConfigError, OutputError, check_output_file

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


def to_nir(model: SpikingNetwork) -> Any:
    """The ``nir.NIRGraph`` of ``model`` (configured, step sizes initialised, module docstring)."""
    nir = _import_nir()
    check_exportable(model)
    config = current_config(model)
    was_training = model.training
    model.eval()
    try:
        return _lower(nir, model, config)
    finally:
        model.train(was_training)


def _lower(nir: Any, model: SpikingNetwork, config: Any) -> Any:
    """The graph of ``model`` in eval mode (:func:`to_nir`)."""
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # noqa: BLE001 - data-dependent control flow and the like
        raise ConfigError(f"the NIR export covers {COVERS}; {model.arch[0]} cannot be traced ({str(err).splitlines()[0][:120]})") from None
    gm = fx.GraphModule(model, graph)
    env: dict[str, torch.Tensor] = {}
    layers = model.spiking_layers()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    out_of: dict[str, str] = {}  # fx node → the NIR node holding its value
    first = model.layer_names[0]
    meta_model = {"model": model.arch[0], "model_kwargs": json.dumps(model.arch[1], default=str)}
    with torch.no_grad():
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                x = torch.zeros((1, *model.input_shape))
                env[node.name] = x
                nodes["input"] = nir.Input(input_type={"input": np.array(model.input_shape)})
                out_of[node.name] = "input"
                continue
            if node.op == "output":
                src = node.args[0]
                nodes["output"] = nir.Output(output_type={"output": np.array(tuple(env[src.name].shape[1:]))})
                edges.append((out_of[src.name], "output"))
                continue
            args = [env[a.name] if isinstance(a, fx.Node) else a for a in node.args]
            src = node.args[0].name if node.args and isinstance(node.args[0], fx.Node) else None
            if node.op == "call_module" and isinstance(gm.get_submodule(node.target), SpikingLayer):
                name = node.target
                layer = layers[name]
                env[node.name] = layer(args[0])
                out_of[node.name] = _lower_layer(nir, nodes, edges, name, layer, config[name], tuple(args[0].shape[1:]),
                                                 tuple(env[node.name].shape[1:]), out_of[src], encoder=name == first)
                continue
            if node.op == "call_module":
                module = gm.get_submodule(node.target)
                env[node.name] = module(args[0])
                in_shape, out_shape = tuple(args[0].shape[1:]), tuple(env[node.name].shape[1:])
                nodes[node.name] = _lower_module(nir, node.target, module, in_shape, out_shape)
            elif node.op == "call_method" and node.target == "flatten" and tuple(node.args[1:]) in ((1,), ()) and not node.kwargs:
                env[node.name] = args[0].flatten(1)
                nodes[node.name] = nir.Flatten(input_type={"input": np.array(tuple(args[0].shape[1:]))}, start_dim=0, end_dim=-1)
            else:
                what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
                raise ConfigError(f"the NIR export covers {COVERS}; {model.arch[0]} uses {what}")
            edges.append((out_of[src], node.name))
            out_of[node.name] = node.name
    neuron = layers[first].neuron
    metadata = {
        "generator": "spikebits",
        **meta_model,
        "config": config.to_json(indent=None),
        "time_base": "discrete steps, dt = 1; every layer after the input at T = 1",
        "input": "integer levels k0 = clip(floor(x / input_step + 0.5), 0, 2^input_bits - 1) of the first layer",
        "input_step": float(spike_steps(neuron, 1)[0]),
        "input_bits": int(spike_bits(neuron, 1)[0]),
        "threshold": "strict (v > theta) at the float64 just below (j - 1/2)*gamma: v >= (j - 1/2)*gamma",
        "lowering": "spikebits.evaluators.nir_export",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _lower_layer(
    nir: Any, nodes: dict, edges: list, name: str, layer: SpikingLayer, choice: Any,
    in_shape: tuple[int, ...], out_shape: tuple[int, ...], source: str, *, encoder: bool,
) -> str:
    """Nodes and edges of one spiking layer; returns the node holding its output current."""
    meta = {"layer": name, "w_bits": choice.w_bits, "s_bits": choice.s_bits, "timesteps": choice.timesteps, "scheme": choice.scheme}
    gamma = float(spike_steps(layer.neuron, 1)[0])
    spikes = [source]
    if not encoder:
        q = 2**choice.s_bits - 1
        ones = np.ones(in_shape)
        nodes[f"{name}.neuron.int"] = nir.I(r=ones, metadata={**meta, "role": "membrane (integrator)"})
        nodes[f"{name}.neuron.reset"] = nir.Scale(scale=np.full(in_shape, -gamma), metadata={**meta, "role": "soft reset"})
        nodes[f"{name}.neuron.delay"] = nir.Delay(delay=ones, metadata={**meta, "role": "one-step delay of the reset"})
        edges += [(source, f"{name}.neuron.int"), (f"{name}.neuron.reset", f"{name}.neuron.delay"),
                  (f"{name}.neuron.delay", f"{name}.neuron.int")]
        spikes = []
        for j in range(1, q + 1):
            theta = np.nextafter((j - 0.5) * gamma, -math.inf)
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


def write_nir(model: SpikingNetwork, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``model``'s NIR graph to ``path`` (HDF5, replaced atomically); returns a summary
    (nodes, edges, bytes)."""
    nir = _import_nir()
    path = Path(path)
    check_output_file(path, f"--out {path}")
    graph = to_nir(model)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"cannot write {path} ({err.strerror or err}); choose a writable --out") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"nodes": len(graph.nodes), "edges": len(graph.edges), "file_bytes": path.stat().st_size}
