"""NeuroBench's own ``Benchmark`` on spikebits models, as a user writes it (``TorchModel(model)``
on the bare network) and through ``neurobench_model``: its synaptic operations equal
spikebits' ``neurobench_counts``, its activation sparsity and membrane updates and the
bit-aware metrics are checked by hand on the toy, both ways agree, and what NeuroBench
watches computes what the model computes. Skipped when neurobench is not installed
(``make test`` installs it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("neurobench")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import Footprint  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations  # noqa: E402
from neurobench.models import TorchModel  # noqa: E402

from spikebits.evaluators.activity import neurobench_counts  # noqa: E402
from spikebits.evaluators.neurobench import BitSynapticOperations, NeuroBenchNet, PackedFootprint, neurobench_model  # noqa: E402
from spikebits.models import apply_config, build, default_space, load_sbq, save_sbq  # noqa: E402
from spikebits.space import Config, ConfigError, LayerChoice  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1]))
from toy_snn import X, toy  # noqa: E402

torch.set_num_threads(1)

ALL = [[Footprint, PackedFootprint], [SynapticOperations, ActivationSparsity, MembraneUpdates, BitSynapticOperations]]


def _run(model, x: torch.Tensor, batch_size: int = 64) -> dict:
    data = TensorDataset(x, torch.zeros(len(x), dtype=torch.long))
    return Benchmark(neurobench_model(model), DataLoader(data, batch_size=batch_size), [], [], ALL).run(quiet=True)


def test_the_toy_by_hand():
    """Two samples, the toy input and a silent one. Synaptic operations as in
    test_neurobench_counts_by_hand (3.5 MACs per sample). Bit-weighted: fc1 W3 reads k = [0, 1, 3]
    (set bits 0, 1, 2) through masks [[1,1,1],[1,1,0]]: 3·(3 + 1) = 12; fc2 W2 reads [3, 1]
    (bits 2, 1) then [2, 0] (bits 1, 0) through [[1,1],[0,1]]: 2·(3 + 1 + 1) = 10; 22 / 2 samples.
    Sparsity: fc1's neuron fires [0, 0.5, 1.5], fc2's [0.75, 0.25] then [1.0, 0.0]: 2 zeros of
    7, and 7 of 7 for the silent sample. Membrane updates (NeuroBench: a neuron's first call
    counts every neuron, later calls the changed ones): fc1 6, fc2 4, then v₂ − v₁ = [0.125,
    −0.125] for the toy and 0 for the silent one: 2; 12 / 2 samples."""
    x = torch.cat([X, torch.zeros(1, 3)])
    results = _run(toy(), x, batch_size=2)
    assert results["SynapticOperations"] == pytest.approx({"Effective_MACs": 3.5, "Effective_ACs": 0.0, "Dense": 14.0})
    assert results["BitSynapticOperations"] == pytest.approx(11.0)
    assert results["ActivationSparsity"] == pytest.approx(9 / 14)
    assert results["MembraneUpdates"] == pytest.approx(6.0)


def test_packed_footprint_by_hand():
    # fc1: 6 weights at W3, fc2: 4 weights at W2 → 26 bits → ⌈26/8⌉ = 4 bytes
    assert PackedFootprint()(neurobench_model(toy())) == 4


@pytest.mark.parametrize("bits, kind", [((4, 2, 2), "Effective_MACs"), ((3, 1, 2), "Effective_ACs")])
def test_synaptic_operations_equal_spikebits_counts_on_digits_cnn(bits, kind):
    from spikebits.evaluators import datasets

    split = datasets.load("digits", seed=0)
    x = split.val.tensors[0][:120]
    torch.manual_seed(0)
    model = build("digits_cnn")
    space = default_space(model)
    apply_config(model, space.expand({n: LayerChoice(*bits) for n in space.decisions}))
    model.eval()
    with torch.no_grad():
        model(x)  # step sizes from data
    ours = neurobench_counts(model, TensorDataset(x, torch.zeros(len(x), dtype=torch.long)))
    results = _run(model, x)
    theirs = results["SynapticOperations"]
    assert theirs[kind] > 0
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert theirs[key] == pytest.approx(ours[key], rel=1e-3, abs=1e-6)
    # S = 2 spikes are multi-bit: MACs only (the encoder's 8-bit input included); S = 1: the
    # three binary layers are ACs, the encoder's 8-bit image MACs
    if kind == "Effective_MACs":
        assert theirs["Effective_ACs"] == 0
    assert results["PackedFootprint"] == -(-sum(p * b for p, b in _weights_and_bits(model, bits)) // 8)
    assert results["Footprint"] > 4 * sum(p for p, _ in _weights_and_bits(model, bits))  # float32 bytes


def _weights_and_bits(model, bits):  # noqa: ANN202
    return [(layer.synapse.weight.numel(), 8 if name == "conv1" else bits[0]) for name, layer in model.spiking_layers().items()]


def test_an_sbq_file_benchmarks_like_its_model(tmp_path):
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    space = default_space(model)
    apply_config(model, space.expand({n: LayerChoice(3, 2, 2, "pow2") for n in space.decisions}))
    x = torch.rand(32, 1, 16, 16)
    with torch.no_grad():
        model.eval()(x)
    summary = save_sbq(model, tmp_path / "m.sbq")
    a, b = _run(model, x), _run(load_sbq(tmp_path / "m.sbq"), x)
    assert a["PackedFootprint"] == summary["payload_bytes"]
    for key in ("SynapticOperations", "BitSynapticOperations", "ActivationSparsity", "MembraneUpdates", "PackedFootprint"):
        assert a[key] == b[key], key


SMALL = {
    "digits_cnn": {"width": 0.25, "in_channels": 3},
    "resnet19": {"widths": (4, 8, 8), "blocks": (1, 1, 1), "head_width": 8},
    "sew_resnet18": {"widths": (4, 4, 8, 8), "blocks": (1, 1, 1, 1), "stem": "cifar"},
    "vgg_dvs": {"widths": (4, 4, 8, 8, 8, 8, 8, 8), "in_channels": 3},
    "spikformer": {"embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("neuron", ["refined", "lif"])
def test_the_wrapper_computes_what_the_model_computes(name, neuron):
    """Per-step synapse calls on integer levels and step-by-step neurons give the model's
    outputs (mixed W, S, T and schemes), and NeuroBench counts every synapse."""
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "image_size": 16, **SMALL[name]}
    model = build(name, num_classes=5, neuron=neuron, **kwargs)
    space = default_space(model)
    cycle = [LayerChoice(4, 2, 1), LayerChoice(2, 4, 2, "pow2"), LayerChoice(3, 1, 3), LayerChoice(8, 2, 2)]
    apply_config(model, space.expand({n: cycle[i % 4] for i, n in enumerate(space.decisions)}))
    x = torch.rand(6, *model.input_shape)
    with torch.no_grad():
        expected = model.eval()(x)
        got = NeuroBenchNet(model)(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    results = _run(model, x)
    assert results["SynapticOperations"]["Dense"] > 0 and 0 < results["ActivationSparsity"] < 1
    assert results["MembraneUpdates"] > 0 and results["BitSynapticOperations"] > 0


def test_a_full_precision_model_is_refused():
    model = build("digits_cnn", width=0.25)
    with pytest.raises(ConfigError, match="configure every layer"):
        NeuroBenchNet(model)


NATIVE = {
    "digits_cnn": {"width": 0.25},
    "resnet20": {"widths": (4, 8, 8), "blocks": 1},
    "sew_resnet18": {"widths": (4, 4, 8, 8), "blocks": (1, 1, 1, 1), "stem": "cifar", "in_channels": 3, "image_size": 16},
}
MIXED = [LayerChoice(4, 2, 1), LayerChoice(2, 4, 2, "pow2"), LayerChoice(3, 1, 3), LayerChoice(8, 2, 2)]


@pytest.mark.parametrize("name", sorted(NATIVE))
@pytest.mark.parametrize("cycle", [MIXED, [LayerChoice(3, 1, 2)]], ids=["multibit", "s1"])
def test_a_bare_torch_model_counts_what_spikebits_counts(name, cycle):
    """``TorchModel(model)`` on the bare network, NeuroBench's own classes only: synaptic
    operations equal ``neurobench_counts`` and the wrapper's, activation sparsity and membrane
    updates the wrapper's; the watched network computes the model's outputs, and once the
    hooks are gone the model computes exactly what it did before."""
    torch.manual_seed(0)
    model = build(name, num_classes=5, **NATIVE[name])
    space = default_space(model)
    apply_config(model, space.expand({n: cycle[i % len(cycle)] for i, n in enumerate(space.decisions)}))
    x = torch.rand(8, *model.input_shape)
    with torch.no_grad():
        expected = model.eval()(x)  # step sizes from data
    data = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=8)
    native = TorchModel(model)
    theirs = Benchmark(native, data, [], [], ALL).run(quiet=True)
    with torch.no_grad():
        watched = model(x)  # NeuroBench's hooks are still registered: per-step synapses and neurons
    ours = neurobench_counts(model, data.dataset)
    wrapper = _run(model, x)
    synops = theirs["SynapticOperations"]
    assert synops["Effective_ACs" if cycle[0].s_bits == 1 else "Effective_MACs"] > 0
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert synops[key] == pytest.approx(ours[key], rel=1e-3, abs=1e-6)
    for key in ("SynapticOperations", "ActivationSparsity", "MembraneUpdates", "BitSynapticOperations", "PackedFootprint"):
        assert theirs[key] == pytest.approx(wrapper[key], rel=1e-3), key
    assert 0 < theirs["ActivationSparsity"] < 1 and theirs["MembraneUpdates"] > 0
    assert torch.allclose(watched, expected, rtol=1e-4, atol=1e-5)
    native.cleanup_hooks()
    with torch.no_grad():
        assert torch.equal(model(x), expected)


def test_hooks_leave_training_untouched():
    """A hook on the deployed synapse and on the firing module changes nothing in training
    mode (the fused path runs) and, in eval mode, only float rounding."""
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    space = default_space(model)
    apply_config(model, space.expand({n: LayerChoice(4, 2, 2) for n in space.decisions}))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 0.0  # training steps leave the running statistics as they are
    x = torch.rand(4, *model.input_shape)
    with torch.no_grad():
        model.eval()(x)
        train, evaluated = model.train()(x), model.eval()(x)
    layer = model.spiking_layers()["conv2"]
    calls = []
    handles = [layer.deployed.register_forward_pre_hook(lambda m, i: calls.append("synapse")),
               layer.neuron.firing.register_forward_hook(lambda m, i, o: calls.append("neuron"))]  # fmt: skip
    with torch.no_grad():
        assert torch.equal(model.train()(x), train) and not calls
        assert torch.allclose(model.eval()(x), evaluated, rtol=1e-4, atol=1e-5)
    assert calls == ["neuron", "neuron", "synapse", "synapse"]  # T = 2 steps each
    for handle in handles:
        handle.remove()
        handle.remove()  # a second removal changes nothing
    assert not layer.deployed.watched and not layer.neuron.firing.watched
    with torch.no_grad():
        assert torch.equal(model(x), evaluated)


# ----------------------------------------------------------------------------- membrane bits U (issue 30)
@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("membrane_bits", [3, 4, 6, 10, 32])
def test_the_step_neuron_fires_what_the_u_bit_refined_neuron_fires(bits, membrane_bits):
    from spikebits.evaluators.neurobench import SteppedNeuron
    from spikebits.models import RefinedNeuron
    from spikebits.models.quantizers import membrane_fraction_bits

    torch.manual_seed(bits * 100 + membrane_bits)
    neuron = RefinedNeuron()
    neuron.configure(bits, 3, membrane_bits)
    x = torch.randn(64, 50) * 2.0
    with torch.no_grad():
        own = neuron.eval()(x)  # first call: γ from the data
        stepped = SteppedNeuron(neuron)
        got = stepped(x)
        neuron.configure(bits, 3, None)
        unquantized = neuron(x)
    assert torch.equal(got, own)
    # ``mem`` holds the stored membrane: whole multiples of δ = γ_3·2^(−F) (up to the float32
    # rounding of c·2^(−F)·γ, relative 2^(−24)), within the code range
    delta = float(neuron.gamma.detach()[2]) * 2.0 ** -membrane_fraction_bits(membrane_bits, bits)
    codes = stepped.step.mem.double() / delta
    assert bool(((codes - codes.round()).abs() <= 1e-3 + codes.abs() * 2.0**-22).all())
    assert codes.round().min() >= -(2 ** (membrane_bits - 1)) and codes.round().max() <= 2 ** (membrane_bits - 1) - 1
    if membrane_bits <= bits + 3:
        assert not torch.equal(own, unquantized)  # a narrow membrane saturates or rounds: other spikes


@pytest.mark.parametrize("membrane_bits", [2, 3, 5, 8])
def test_the_step_neuron_fires_what_the_u_bit_lif_neuron_fires(membrane_bits):
    from spikebits.evaluators.neurobench import SteppedNeuron
    from spikebits.models import LIFNeuron

    torch.manual_seed(membrane_bits)
    neuron = LIFNeuron()
    neuron.configure(1, 4, membrane_bits)
    x = torch.rand(64, 50) * 1.5
    with torch.no_grad():
        assert torch.equal(SteppedNeuron(neuron)(x), neuron.eval()(x))


U_CYCLE = [LayerChoice(4, 2, 1, "uniform", 4), LayerChoice(2, 4, 2, "pow2", 9), LayerChoice(3, 1, 3, "uniform", 3), LayerChoice(8, 2, 2)]


@pytest.mark.parametrize("name, neuron", [("digits_cnn", "refined"), ("digits_cnn", "lif"), ("spikformer", "refined")])
def test_the_wrapper_and_neurobench_see_the_u_bit_model(name, neuron):
    """With U-bit membranes the wrapper computes the model's outputs, and NeuroBench's counts
    on the bare network equal the wrapper's (the watched neurons store the membrane too)."""
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "image_size": 16, **SMALL[name]}
    model = build(name, num_classes=5, neuron=neuron, **kwargs)
    space = default_space(model).searching_membrane((3, 4, 9))
    apply_config(model, space.expand({n: U_CYCLE[i % 4] for i, n in enumerate(space.decisions)}))
    x = torch.rand(6, *model.input_shape)
    with torch.no_grad():
        expected = model.eval()(x)
        got = NeuroBenchNet(model)(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    wrapper = _run(model, x)
    data = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=64)
    native = TorchModel(model)
    theirs = Benchmark(native, data, [], [], ALL).run(quiet=True)
    native.cleanup_hooks()
    for key in ("SynapticOperations", "ActivationSparsity", "MembraneUpdates", "BitSynapticOperations"):
        assert theirs[key] == pytest.approx(wrapper[key], rel=1e-3), key


def test_state_footprint_by_hand():
    """digits_cnn at width 0.25: input neurons conv1 1·16·16 = 256, conv2 8·16·16 = 2048,
    conv3 16·8·8 = 1024, fc 32. conv1 (pinned, no U) and fc (no U) count a float32 membrane,
    32 bits; conv2 U6, conv3 U4: 256·32 + 2048·6 + 1024·4 + 32·32 = 8192 + 12288 + 4096 + 1024
    = 25600 bits = 3200 bytes."""
    from spikebits.evaluators.neurobench import StateFootprint, state_bytes
    from spikebits.models import layer_specs

    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    assert [s.n_inputs for s in layer_specs(model)] == [256, 2048, 1024, 32]
    apply_config(model, Config({"conv1": LayerChoice(8, 8, 1), "conv2": LayerChoice(4, 2, 1, "uniform", 6),
                                "conv3": LayerChoice(4, 2, 1, "uniform", 4), "fc": LayerChoice(4, 2, 1)}))
    with torch.no_grad():
        model.eval()(torch.rand(2, 1, 16, 16))
    assert state_bytes(model) == 3200
    assert StateFootprint()(neurobench_model(model)) == 3200 and StateFootprint()(TorchModel(model)) == 3200
    results = Benchmark(neurobench_model(model), DataLoader(TensorDataset(torch.rand(2, 1, 16, 16), torch.zeros(2, dtype=torch.long))),
                        [], [], [[StateFootprint], []]).run(quiet=True)
    assert results["StateFootprint"] == 3200
    with pytest.raises(ConfigError, match="registered architecture"):
        StateFootprint()(neurobench_model(toy()))
