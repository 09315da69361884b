"""NIR export: a fine-tuned digits_cnn config written with ``spikebits export --format nir``,
read back with ``nir`` and run by a reference interpreter written here (extended lowering),
gives the integer spike levels of the bit-serial simulator in every layer and its logits; a
binary-spike config (standard lowering) loads in snnTorch's ``import_from_nir`` and predicts
what spikebits predicts. Configs NIR cannot express are refused in one line."""

from __future__ import annotations

import copy
import json
from collections import defaultdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

nir = pytest.importorskip("nir")

from spikebits.evaluators import datasets  # noqa: E402
from spikebits.evaluators.activity import integer_levels  # noqa: E402
from spikebits.evaluators.hardware import simulate  # noqa: E402
from spikebits.evaluators.nir_export import check_exportable, firing_thresholds, to_nir, write_nir  # noqa: E402
from spikebits.evaluators.training import TrainSettings, train  # noqa: E402
from spikebits.models import apply_config, build, default_space  # noqa: E402
from spikebits.space import Config, ConfigError, LayerChoice  # noqa: E402

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- the interpreter
def run_nir(graph, inputs: np.ndarray, steps: int = 1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a NIR graph in discrete time (dt = 1) on a batch ``[B, ...]`` held for ``steps``.

    Each step evaluates the nodes in dependency order, ignoring the edges that leave a Delay
    (a Delay outputs what it received one step before, 0 at first); a node's input is the sum
    of its predecessors' outputs. I: v += r·x, outputs v; Threshold: 1 where x > θ; LIF (one
    step of the standard lowering's τ = dt, r = 1 neuron): 1 where x > θ; Scale: x·s;
    SumPool2d: window sums; Conv2d/Affine/AvgPool2d/Flatten as their NIR definitions (float64). Returns the output of
    the last step and every node's output of the last step."""
    preds: dict[str, list[str]] = defaultdict(list)
    for src, dst in graph.edges:
        preds[dst].append(src)
    delays = {n for n, node in graph.nodes.items() if isinstance(node, nir.Delay)}
    order, done = [], set(delays)
    while len(order) + len(delays) < len(graph.nodes):
        ready = [n for n in graph.nodes if n not in done and all(p in done for p in preds[n])]
        assert ready, "the graph has a cycle that no Delay breaks"
        for n in sorted(ready):
            order.append(n)
            done.add(n)
    state: dict[str, np.ndarray] = {}
    delayed: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    batch = inputs.shape[0]
    for _ in range(steps):
        out = {d: delayed.get(d, 0.0) for d in delays}
        for n in order:
            node = graph.nodes[n]
            x = inputs if isinstance(node, nir.Input) else sum(out[p] for p in preds[n])
            if isinstance(node, (nir.Input, nir.Output)):
                y = x
            elif isinstance(node, nir.I):
                state[n] = state.get(n, 0.0) + node.r * x
                y = state[n]
            elif isinstance(node, nir.Threshold):
                y = (x > node.threshold).astype(np.float64)
            elif isinstance(node, nir.LIF):  # the standard lowering's τ = dt, r = 1 LIF: v = x in one step
                assert steps == 1 and np.all(node.r == 1)
                y = (x > node.v_threshold).astype(np.float64)
            elif isinstance(node, nir.SumPool2d):
                area = float(np.prod(node.kernel_size))
                y = area * F.avg_pool2d(torch.from_numpy(np.asarray(x, dtype=np.float64)), tuple(node.kernel_size), tuple(node.stride),
                                        tuple(node.padding)).numpy()
            elif isinstance(node, nir.Scale):
                y = x * node.scale
            elif isinstance(node, nir.Conv2d):
                y = F.conv2d(torch.from_numpy(np.asarray(x, dtype=np.float64)), torch.from_numpy(node.weight), torch.from_numpy(node.bias),
                             tuple(node.stride), tuple(node.padding), tuple(node.dilation), node.groups).numpy()
            elif isinstance(node, nir.Affine):
                y = x @ node.weight.T + node.bias
            elif isinstance(node, nir.AvgPool2d):
                y = F.avg_pool2d(torch.from_numpy(np.asarray(x, dtype=np.float64)), tuple(node.kernel_size), tuple(node.stride),
                                 tuple(node.padding)).numpy()
            elif isinstance(node, nir.Flatten):
                y = np.asarray(x).reshape(batch, -1)
            else:
                raise AssertionError(f"no semantics for {type(node).__name__}")
            out[n] = y
        delayed = {d: sum(out[p] for p in preds[d]) for d in delays}
    return out["output"], out


def _levels(graph, outputs: dict[str, np.ndarray], layer: str) -> np.ndarray:
    """The integer spike levels a layer's synapse reads: the sum of its thresholds."""
    thresholds = [n for n in graph.nodes if n.startswith(f"{layer}.neuron.thr")]
    return sum(outputs[n] for n in thresholds)


# ----------------------------------------------------------------------------- the round trip
@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """digits_cnn at width 0.25, fine-tuned 1 epoch on digits at a mixed T = 1 config (S 1, 2, 4,
    one power-of-two layer), written through the CLI as a checkpoint and exported to NIR."""
    split = datasets.load("digits", seed=0)
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    space = default_space(model)
    choices = {"conv2": LayerChoice(3, 2, 1), "conv3": LayerChoice(4, 4, 1, "pow2"), "fc": LayerChoice(4, 1, 1)}
    config = space.complete(space.expand(choices))
    apply_config(model, config)
    train(model, split.train, TrainSettings(epochs=1, batch_size=128, lr=3e-3))
    model.eval()
    folder = tmp_path_factory.mktemp("nir")
    torch.save(model.state_dict(), folder / "m.ckpt")  # a plain state_dict; the config comes with --config
    return model, config, split, folder


def test_the_nir_graph_runs_like_the_bit_serial_simulator(finetuned, capsys):
    from spikebits.search.cli import main

    model, config, split, folder = finetuned
    (folder / "config.json").write_text(config.to_json())
    code = main(["export", "--model", "digits_cnn", "--model-arg", "width=0.25", "--checkpoint", str(folder / "m.ckpt"),
                 "--config", str(folder / "config.json"), "--format", "nir", "--out", str(folder / "m.nir")])
    assert code == 0, capsys.readouterr().err
    assert "NIR graph (extended lowering) of" in capsys.readouterr().out
    graph = nir.read(str(folder / "m.nir"))

    # the lowering: W, S, T, scheme in each node; Q = 2^S − 1 thresholds; integer weights
    assert len([n for n in graph.nodes if n.startswith("conv3.neuron.thr")]) == 2**4 - 1
    assert len([n for n in graph.nodes if n.startswith("fc.neuron.thr")]) == 1
    meta = graph.nodes["conv3.synapse"].metadata
    assert (int(meta["w_bits"]), int(meta["s_bits"]), int(meta["timesteps"]), str(meta["scheme"])) == (4, 4, 1, "pow2")
    for layer in ("conv1", "conv2", "conv3", "fc"):
        w = graph.nodes[f"{layer}.synapse"].weight
        assert np.array_equal(w, np.round(w))
    assert json.loads(str(graph.metadata["config"])) == config.to_dict()
    assert not any(n.startswith("bn") for n in graph.nodes)  # BatchNorm folds into L.scale and the synapse's bias

    x = split.val.tensors[0][:96]
    step0, bits0 = float(graph.metadata["input_step"]), int(graph.metadata["input_bits"])
    k0 = np.clip(np.floor(x.double().numpy() / step0 + 0.5), 0, 2**bits0 - 1)
    logits, outputs = run_nir(graph, k0)

    # The levels every neuron fires while the simulator runs (its integer synapses feed them),
    # both in float64: in float32 a current that lands within float32's rounding of a
    # threshold (8 of 393,216 in conv2 here) rounds the other way.
    model = copy.deepcopy(model).double()
    x = x.double()
    read: dict[str, torch.Tensor] = {}
    hooks = [
        layer.neuron.register_forward_hook(lambda _m, _i, spikes, _n=name: read.__setitem__(_n, integer_levels(model, _n, spikes)[0]))
        for name, layer in model.spiking_layers().items()
    ]
    try:
        report = simulate(model, x)
    finally:
        for hook in hooks:
            hook.remove()
    assert np.array_equal(read["conv1"].numpy(), k0)
    for layer in ("conv2", "conv3", "fc"):
        ours = _levels(graph, outputs, layer)
        theirs = read[layer].double().numpy()
        assert np.array_equal(ours, theirs), (layer, int((ours != theirs).sum()), ours.size, float(np.abs(ours - theirs).max()))
        assert ours.max() > 0
    assert np.allclose(logits, report.logits.double().numpy(), rtol=1e-5, atol=1e-5)
    assert (logits.argmax(1) == report.logits.argmax(1).numpy()).all()


def test_a_two_step_graph_keeps_the_soft_reset():
    """Held for two steps, the integrator and its delayed subtractive feedback give
    v₂ = 2x − s₁ (the refined neuron's second step on a constant input)."""
    model = build("digits_cnn", width=0.25)
    space = default_space(model)
    apply_config(model, space.expand({n: LayerChoice(4, 2, 1) for n in space.decisions}))
    model.eval()
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        model(x)
    graph = to_nir(model)
    k0 = np.clip(np.floor(x.double().numpy() / float(graph.metadata["input_step"]) + 0.5), 0, 255)
    _, first = run_nir(graph, k0, steps=1)
    _, second = run_nir(graph, k0, steps=2)
    gamma = float(model.conv2.neuron.gamma.detach()[0])
    current = first["conv2.neuron.int"]
    s1 = gamma * _levels(graph, first, "conv2")
    assert np.allclose(second["conv2.neuron.int"], 2 * current - s1)


# ----------------------------------------------------------------------------- standard lowering
@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """digits_cnn at width 0.25 with binary spikes (S = 1, T = 1) after the pinned W8/S8/T1 input
    layer, fine-tuned 3 epochs on digits, saved as a checkpoint with its config."""
    split = datasets.load("digits", seed=0)
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    space = default_space(model)
    config = space.complete(space.expand({n: LayerChoice(4, 1, 1) for n in ("conv2", "conv3", "fc")}))
    apply_config(model, config)
    train(model, split.train, TrainSettings(epochs=3, batch_size=64, lr=1e-2))
    model.eval()
    folder = tmp_path_factory.mktemp("nir_standard")
    torch.save(model.state_dict(), folder / "m.ckpt")
    (folder / "config.json").write_text(config.to_json())
    return model, config, split, folder


def test_snntorch_loads_the_standard_graph_and_predicts_like_spikebits(binary, capsys):
    pytest.importorskip("nirtorch")
    import_nir = pytest.importorskip("snntorch.import_nir")
    from spikebits.search.cli import main

    model, config, split, folder = binary
    code = main(["export", "--model", "digits_cnn", "--model-arg", "width=0.25", "--checkpoint", str(folder / "m.ckpt"),
                 "--config", str(folder / "config.json"), "--out", str(folder / "m.nir")])
    assert code == 0, capsys.readouterr().err
    assert "NIR graph (standard lowering)" in capsys.readouterr().out
    graph = nir.read(str(folder / "m.nir"))

    # only nodes snnTorch, Norse and Sinabs map; the input quantizer (S0 = 8) as 255 thermometer
    # LIF populations on the image; BatchNorm folded; integer weights times a per-channel scale
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert kinds == {"Input", "Output", "LIF", "Conv2d", "SumPool2d"}, kinds
    assert len([n for n in graph.nodes if n.startswith("conv1.neuron.level")]) == 2**8 - 1
    assert float(graph.metadata["dt"]) == 1e-4 and int(graph.metadata["timesteps"]) == 1
    for node in graph.nodes.values():
        if isinstance(node, nir.LIF):
            assert np.all(node.tau == 1e-4) and np.all(node.r == 1) and np.unique(node.v_threshold).size == 1
    for layer in ("conv1", "conv2", "conv3", "fc"):
        syn = graph.nodes[f"{layer}.synapse"]
        w_int = syn.weight / syn.metadata["weight_scale"].reshape(-1, 1, 1, 1)
        assert np.allclose(w_int, np.round(w_int), atol=1e-9)
    gamma = float(model.conv2.neuron.gamma.detach()[0])
    assert float(graph.nodes["conv2.neuron"].v_threshold.flat[0]) == np.nextafter(gamma / 2, -np.inf)

    x, labels = split.test.tensors
    with torch.no_grad():
        ours = model(x).argmax(1)
        net = import_nir.import_from_nir(graph)
        logits, _ = net(x)  # one step (dt = 1e-4, T = 1)
        theirs = logits.flatten(1).argmax(1)
        again, _ = net(x)  # a second step on the held input: τ = dt, the neurons forget
    agreement = float((theirs == ours).double().mean())
    print(f"snnTorch agrees with spikebits on {agreement:.2%} of {len(ours)} digits test images")
    assert agreement >= 0.99
    assert float((ours == labels).double().mean()) > 0.5  # a trained network, not a constant answer
    assert torch.equal(again.flatten(1).argmax(1), theirs)


def test_the_standard_lowering_refuses_multibit_spikes_in_one_line(capsys, tmp_path):
    model = _configured("digits_cnn", {"conv2": LayerChoice(4, 1, 1), "conv3": LayerChoice(4, 2, 1), "fc": LayerChoice(4, 1, 1)}, width=0.25)
    with pytest.raises(ConfigError) as err:
        to_nir(model, "standard")
    assert "layer conv3 fires S = 2" in str(err.value) and "--nir-lowering extended" in str(err.value) and "\n" not in str(err.value)
    graph = to_nir(model)  # auto: the extended lowering
    assert graph.metadata["lowering"] == "extended" and "conv3.neuron.thr3" in graph.nodes


# ----------------------------------------------------------------------------- refusals
def _configured(name: str, choices: dict | None = None, **kwargs):  # noqa: ANN202
    model = build(name, **kwargs)
    space = default_space(model)
    default = LayerChoice(4, 2, 1)
    apply_config(model, space.expand({n: (choices or {}).get(n, default) for n in space.decisions}))
    model.eval()
    with torch.no_grad():
        model(torch.rand(2, *model.input_shape))
    return model


@pytest.mark.parametrize(
    "name, kwargs, choices, words",
    [
        ("digits_cnn", {"width": 0.25}, {"conv3": LayerChoice(4, 2, 2)}, "NIR has one time base, and this config runs its layers at T = 1"),
        ("digits_cnn", {"width": 0.25}, {n: LayerChoice(4, 2, 2) for n in ("conv2", "conv3", "fc")}, "every layer runs T = 2"),
        ("digits_cnn", {"width": 0.25, "neuron": "lif"}, None, "lowers refined neurons"),
        ("resnet20", {"widths": (4, 8, 8), "blocks": (1, 1, 1), "image_size": 8}, None, "spikes outside that chain"),
        ("vgg_dvs", {"widths": (4,) * 8, "in_channels": 2, "image_size": 16, "pool": "max"}, None, "no lowering for MaxPool2d"),
    ],
)
def test_what_nir_cannot_express_is_refused_in_one_line(name, kwargs, choices, words):
    model = _configured(name, choices, **kwargs)
    with pytest.raises(ConfigError) as err:
        to_nir(model)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_vgg_dvs_with_average_pooling_exports():
    model = _configured("vgg_dvs", widths=(4,) * 8, in_channels=2, image_size=16)
    check_exportable(model)
    graph = to_nir(model)
    # 16 → 8 → 4 → 2 → 1 → 1: four AvgPool2d, the fifth pool (of a 1×1 map) the map itself, and the head's AvgPool2d
    assert sum(isinstance(n, nir.AvgPool2d) for n in graph.nodes.values()) == 5
    x = torch.rand(3, 2, 16, 16)
    k0 = np.clip(np.floor(x.double().numpy() / float(graph.metadata["input_step"]) + 0.5), 0, 255)
    logits, _ = run_nir(graph, k0)
    with torch.no_grad():
        expected = model(x).double().numpy()
    assert np.allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_a_nir_file_goes_into_a_folder_made_for_it_as_the_other_exports_do(tmp_path):
    # Issue 29: the NIR export refused a folder that did not exist yet, where .sbq and the
    # checkpoints create it; both go through space.atomic_path now.
    model = _configured("vgg_dvs", widths=(4,) * 8, in_channels=2, image_size=16)
    target = tmp_path / "new" / "deeper" / "model.nir"
    summary = write_nir(model, target)
    assert target.is_file() and summary["file_bytes"] == target.stat().st_size
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.nir"]  # no temporary file left


def test_the_cli_refuses_a_mixed_t_config_in_one_line_and_writes_nothing(tmp_path, capsys):
    from spikebits.search.cli import main

    model = _configured("digits_cnn", {"conv2": LayerChoice(4, 2, 2)})
    torch.save(model.state_dict(), tmp_path / "m.ckpt")
    config = default_space(model).complete(default_space(model).expand(
        {n: LayerChoice(4, 2, 2) if n == "conv2" else LayerChoice(4, 2, 1) for n in default_space(model).decisions}))
    (tmp_path / "c.json").write_text(config.to_json())
    code = main(["export", "--checkpoint", str(tmp_path / "m.ckpt"), "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "m.nir")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "NIR has one time base" in err and "T = 2 (conv2)" in err
    assert not (tmp_path / "m.nir").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ----------------------------------------------------------------------------- membrane bits U (issue 30)
def test_firing_thresholds_by_hand():
    # γ = 1, S = 2. No U: (j − ½)·γ. U = 4 or 3 (F = 0, top code 7 or 3): the same, level 3 reachable.
    # U = 2 (top code 1): level 1 only. U = 6 (F = 1, δ = ½, m_j = 1, 3, 5): (m_j − ½)/2 = ¼, 1¼, 2¼.
    # U = 8 (F = 2, δ = ¼, m_j = 2, 6, 10): ⅜, 1⅜, 2⅜ — docs/membrane_bits.md's hand case, x = 1.375
    # stored as 1.5, fires level 2. S = 1, U = 4 (F = 1): a binary neuron fires at γ/4.
    assert firing_thresholds(1.0, 2) == [0.5, 1.5, 2.5]
    assert firing_thresholds(1.0, 2, 4) == firing_thresholds(1.0, 2, 3) == [0.5, 1.5, 2.5]
    assert firing_thresholds(1.0, 2, 2) == [0.5]
    assert firing_thresholds(1.0, 2, 6) == [0.25, 1.25, 2.25]
    assert firing_thresholds(1.0, 2, 8) == [0.375, 1.375, 2.375]
    assert firing_thresholds(0.5, 1, 4) == [0.125]
    assert len(firing_thresholds(1.0, 8, 8)) == 127  # top code 127 caps the 255 levels


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("membrane_bits", [2, 3, 5, 6, 9, 16])
def test_firing_thresholds_are_the_u_bit_neurons_first_step(bits, membrane_bits):
    from spikebits.models import RefinedNeuron

    neuron = RefinedNeuron().double()
    neuron.configure(bits, 1, membrane_bits)
    with torch.no_grad():
        neuron.gamma.fill_(0.37)
    neuron.initialized.fill_(True)
    v = torch.linspace(-1.0, 0.37 * 2**bits + 1.0, 20001, dtype=torch.float64)
    with torch.no_grad():
        levels = (neuron.eval()(v)[0] / 0.37).round()
    thresholds = [np.nextafter(t, -np.inf) for t in firing_thresholds(0.37, bits, membrane_bits)]
    ours = sum((v.numpy() > t).astype(np.float64) for t in thresholds)
    assert np.array_equal(ours, levels.numpy())


def _u_model(choices: dict, **kwargs):  # noqa: ANN202
    """digits_cnn at width 0.25 with every layer chosen (conv1 included), step sizes from data."""
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25, **kwargs)
    apply_config(model, Config(choices))
    x = torch.rand(16, 1, 16, 16)
    with torch.no_grad():
        model.eval()(x)
    return model, x


def _levels_of(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The logits and the integer spike levels every neuron fires (a float64 model) on ``x``."""
    read = {}
    hooks = [layer.neuron.register_forward_hook(lambda _m, _i, spikes, _n=name: read.__setitem__(_n, integer_levels(model, _n, spikes)[0]))
             for name, layer in model.spiking_layers().items()]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return {"logits": logits.numpy(), **{k: v.double().numpy() for k, v in read.items()}}


def test_the_extended_graph_fires_what_the_u_bit_model_fires():
    # conv1 U10 (S8: F 0, top code 511), conv2 U4 (S2: F 0), conv3 U4 (S4: F 0, top code 7 caps 15
    # levels at 7), fc U7 (S2: F 2: every threshold γ/8 lower)
    choices = {"conv1": LayerChoice(8, 8, 1, "uniform", 10), "conv2": LayerChoice(3, 2, 1, "uniform", 4),
               "conv3": LayerChoice(4, 4, 1, "pow2", 4), "fc": LayerChoice(4, 2, 1, "uniform", 7)}
    model, x = _u_model(choices)
    graph = to_nir(model)
    assert graph.metadata["lowering"] == "extended" and int(graph.metadata["input_membrane_bits"]) == 10
    assert len([n for n in graph.nodes if n.startswith("conv3.neuron.thr")]) == 7
    assert int(graph.nodes["fc.synapse"].metadata["u_bits"]) == 7 and int(graph.nodes["fc.neuron.thr1"].metadata["u_bits"]) == 7
    assert json.loads(str(graph.metadata["config"]))["layers"]["conv2"]["u_bits"] == 4
    # the input levels by the metadata's formula: the U-bit membrane's code, then the level
    step0, bits0, f0 = float(graph.metadata["input_step"]), int(graph.metadata["input_bits"]), int(graph.metadata["input_fraction_bits"])
    code = np.clip(np.floor(x.double().numpy() / (step0 * 2.0**-f0) + 0.5), -(2**9), 2**9 - 1)
    k0 = np.clip(np.floor(code * 2.0**-f0 + 0.5), 0, 2**bits0 - 1)
    logits, outputs = run_nir(graph, k0)
    expected = _levels_of(copy.deepcopy(model).double(), x.double())
    assert np.array_equal(expected["conv1"], k0)
    for layer in ("conv2", "conv3", "fc"):
        ours, theirs = _levels(graph, outputs, layer), expected[layer]
        assert np.array_equal(ours, theirs), (layer, int((ours != theirs).sum()), ours.size)
    assert np.allclose(logits, expected["logits"], rtol=1e-6, atol=1e-6)
    # ... and U changed what the model fires: without it conv3 reaches levels above 7
    plain, _ = _u_model({n: LayerChoice(c.w_bits, c.s_bits, c.timesteps, c.scheme) for n, c in choices.items()})
    assert _levels_of(copy.deepcopy(plain).double(), x.double())["conv3"].max() > 7 >= expected["conv3"].max()


def test_the_standard_graph_fires_what_the_u_bit_model_fires():
    # binary layers at U4 (F 1: they fire at γ/4, not γ/2); conv1 S8 U8 (top code 127: 127 levels)
    choices = {"conv1": LayerChoice(8, 8, 1, "uniform", 8), "conv2": LayerChoice(3, 1, 1, "uniform", 4),
               "conv3": LayerChoice(4, 1, 1, "pow2", 4), "fc": LayerChoice(4, 1, 1, "uniform", 6)}
    model, x = _u_model(choices)
    graph = to_nir(model)
    assert graph.metadata["lowering"] == "standard"
    assert len([n for n in graph.nodes if n.startswith("conv1.neuron.level")]) == 127
    gamma = float(model.conv2.neuron.gamma.detach()[0])
    assert float(graph.nodes["conv2.neuron"].v_threshold.flat[0]) == np.nextafter(gamma / 4, -np.inf)
    assert int(graph.nodes["conv2.neuron"].metadata["u_bits"]) == 4
    logits, _ = run_nir(graph, x.double().numpy())
    expected = _levels_of(copy.deepcopy(model).double(), x.double())
    assert np.allclose(logits.reshape(len(x), -1), expected["logits"], rtol=1e-6, atol=1e-6)
    plain, _ = _u_model({n: LayerChoice(c.w_bits, c.s_bits, c.timesteps, c.scheme) for n, c in choices.items()})
    assert not np.allclose(_levels_of(copy.deepcopy(plain).double(), x.double())["logits"], expected["logits"])  # U changes the spikes
