"""Measured activity, integer spike levels and NeuroBench counts, checked by hand on a toy."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from spikebits.evaluators.activity import (
    activity_rates,
    integer_levels,
    measure_activity,
    neurobench_counts,
    probe_synapses,
    record_layer_activity,
    s_ace_active,
)
from spikebits.evaluators.cost import s_ace
from spikebits.models import LayerSpec, apply_config, build, record_activity
from spikebits.space import Config, ConfigError, LayerChoice
from toy_snn import X, toy


# fc1: k = clip(⌊x/0.5 + 0.5⌋, 0, 3) = [0, 1, 3]; acc = w_int·k = [7, 1]; out = 0.5·0.25·acc = [0.875, 0.125].
# fc2 (S2): v1 = [0.875, 0.125] → k1 = [clip(4) = 3, 1], s1 = [0.75, 0.25];
#           v2 = v1 + x − s1 = [1.0, 0.0] → k2 = [⌊2.5⌋ = 2, 0].


def _toy_data(x: torch.Tensor = X) -> TensorDataset:
    return TensorDataset(x, torch.zeros(len(x), dtype=torch.long))


def test_integer_levels_toy_by_hand():
    model = toy()
    seen = {}

    def grab(name, layer, spikes):
        seen[name] = (spikes.clone(), integer_levels(model, name, spikes))

    with torch.no_grad(), probe_synapses(model, grab):
        out = model(X)
    assert seen["fc1"][1].tolist() == [[[0, 1, 3]]]
    assert seen["fc2"][1].tolist() == [[[3, 1]], [[2, 0]]]
    assert seen["fc1"][1].dtype == torch.long
    assert torch.equal(seen["fc2"][0], torch.tensor([[[0.75, 0.25]], [[1.0, 0.0]]]))
    assert out.tolist() == [[0.375, 0.0625]]


def _digits(config_bits=((8, 8, 1), (3, 2, 3), (2, 4, 2), (4, 1, 2)), neuron="refined"):
    torch.manual_seed(0)
    model = build("digits_cnn", neuron=neuron, width=0.25)
    config = Config({n: LayerChoice(w, s, t, "pow2" if i == 2 else "uniform") for i, (n, (w, s, t)) in
                     enumerate(zip(model.layer_names, config_bits))})
    apply_config(model, config)
    x = torch.rand(16, 1, 16, 16)
    with torch.no_grad():
        model.eval()(x)  # initialise α and γ from data
    return model, config, x


def test_integer_levels_reproduce_spikes_exactly():
    model, config, x = _digits()
    checked = []

    def check(name, layer, spikes):
        k = integer_levels(model, name, spikes)
        gamma = layer.neuron.gamma.detach()[: spikes.shape[0]].reshape(-1, *([1] * (spikes.dim() - 1)))
        assert torch.allclose(gamma * k, spikes, rtol=1e-6, atol=0)
        assert int(k.min()) >= 0 and int(k.max()) <= 2 ** config[name].s_bits - 1
        assert spikes.shape[0] == config[name].timesteps
        checked.append((name, int(k.max())))

    with torch.no_grad(), probe_synapses(model, check):
        model(x)
    assert [n for n, _ in checked] == ["conv1", "conv2", "conv3", "fc"]
    assert checked[-1][1] == 1  # fc reads 1-bit spikes
    assert checked[0][1] > 3  # the 8-bit image encoder uses more than two bits


def test_lif_levels_are_binary_and_full_precision_raises():
    model, _, x = _digits(neuron="lif")
    with torch.no_grad(), record_layer_activity(model) as stats:
        model(x)
    for name in ("conv2", "conv3", "fc"):
        a = stats[name]
        assert a.ternary is True
        assert sum(a.level_sum) == sum(a.nonzero) == sum(a.set_bits)  # every level is 1
    fp = build("digits_cnn", width=0.25).eval()
    with pytest.raises(ConfigError, match="configure every layer before measuring integer spikes"):
        with torch.no_grad(), record_layer_activity(fp):
            fp(x)
    assert "synapse_forward" not in fp.conv1.__dict__  # restored after the error


def test_probe_replaces_output_and_restores_on_error():
    model = toy()

    def replace(name, layer, spikes):
        return torch.full((spikes.shape[1], 2), 7.0) if name == "fc2" else None

    with torch.no_grad(), probe_synapses(model, replace):
        assert model(X).tolist() == [[7.0, 7.0]]

    def boom(name, layer, spikes):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), torch.no_grad(), probe_synapses(model, boom):
        model(X)
    assert "synapse_forward" not in model.fc1.__dict__ and "synapse_forward" not in model.fc2.__dict__
    with torch.no_grad():
        assert model(X).tolist() == [[0.375, 0.0625]]


def test_a_probe_sees_every_synapse_call_even_those_the_architecture_makes_itself():
    # A ResNet's 1x1 shortcuts and a Spikformer's q, k, v call synapse_forward directly, not
    # through their layer's forward: the hook on each layer's synapse_op sees them all, and
    # the parameter-free synapse_op adds nothing to the state dict.
    for name, kwargs, shape in (("resnet20", {"num_classes": 10}, (1, 3, 32, 32)), ("spikformer", {}, (1, 3, 32, 32))):
        model = build(name, **kwargs).eval()
        seen: set[str] = set()

        def note(layer_name, layer, spikes):
            seen.add(layer_name)

        with torch.no_grad(), probe_synapses(model, note):
            model(torch.rand(shape))
        assert seen == set(model.spiking_layers()), name
        assert not any("synapse_op" in key for key in model.state_dict())


def test_layer_activity_by_hand():
    model = toy()
    model.train()
    activity = measure_activity(model, _toy_data())
    assert model.training  # mode restored
    fc1, fc2 = activity["fc1"], activity["fc2"]
    assert (fc1.timesteps, fc1.nonzero, fc1.total, fc1.level_sum, fc1.set_bits) == (1, [2], [3], [4], [3])
    assert fc1.value_sum == pytest.approx(2.0) and fc1.samples == 1 and fc1.ternary is False
    assert (fc2.timesteps, fc2.nonzero, fc2.total, fc2.level_sum, fc2.set_bits) == (2, [2, 1], [2, 2], [4, 2], [3, 1])
    assert fc2.rate == pytest.approx(0.75) and fc2.rates == pytest.approx([1.0, 0.5])
    assert fc2.mean_level == pytest.approx(2.0)  # (3 + 1 + 2) / 3 non-zero spikes
    assert fc2.bits_per_spike == pytest.approx(4 / 3)  # popcounts 2, 1, 1
    assert fc2.mean_value == pytest.approx(2.0 / 3)  # (0.75 + 0.25 + 1.0) / 3
    d = fc2.to_dict()
    assert d["rate"] == pytest.approx(0.75) and d["nonzero"] == [2, 1] and d["name"] == "fc2"


def test_rates_and_activity_aware_s_ace():
    model = toy()
    activity = measure_activity(model, _toy_data())
    specs = [LayerSpec("fc1", "linear", 6, 3, 2, 6, (3,), (2,)), LayerSpec("fc2", "linear", 4, 2, 2, 4, (2,), (2,))]
    config = Config({"fc1": LayerChoice(3, 2, 1), "fc2": LayerChoice(2, 2, 2)})
    assert activity_rates(activity) == pytest.approx({"fc1": 2 / 3, "fc2": 0.75})
    # dense: 6·3·2·1 + 4·2·2·2 = 36 + 32; active: 36·2/3 + 32·0.75 = 24 + 24
    assert s_ace(specs, config) == 68
    assert s_ace_active(specs, config, activity) == pytest.approx(48.0)
    with pytest.raises(ConfigError, match="no activity for layer 'fc2'"):
        s_ace_active(specs, config, {"fc1": activity["fc1"]})


def test_neurobench_counts_by_hand():
    # Two samples: the toy input and a silent one (zeros), so every count is halved; Dense is not.
    data = _toy_data(torch.cat([X, torch.zeros(1, 3)]))
    # Integer levels. fc1 reads k = [0, 1, 3] (not ternary: MACs); non-zero inputs 1 and 2 meet
    # weights (−2, 1) and (3, 0): 3 effective ops. fc2 step 1 k = [3, 1]: input 0 meets (1, 0),
    # input 1 meets (−1, 1): 3; step 2 k = [2, 0]: 1. Dense: fc1 6, fc2 2 steps × 4.
    counts = neurobench_counts(toy(), data, integer_spikes=True, batch_size=2)
    assert counts["layers"]["fc1"] == pytest.approx({"effective_acs": 0, "effective_macs": 1.5, "dense": 6})
    assert counts["layers"]["fc2"] == pytest.approx({"effective_acs": 0, "effective_macs": 2.0, "dense": 8})
    assert (counts["Effective_ACs"], counts["Effective_MACs"], counts["Dense"]) == pytest.approx((0, 3.5, 14))
    assert counts["samples"] == 2
    # Real values: fc2's step 2 reads [1.0, 0.0] (γ = 0.5 · k = 2), which NeuroBench takes for
    # binary spikes: its 1 op becomes an AC.
    real = neurobench_counts(toy(), data, integer_spikes=False, batch_size=2)
    assert real["layers"]["fc2"] == pytest.approx({"effective_acs": 0.5, "effective_macs": 1.5, "dense": 8})
    assert (real["Effective_ACs"], real["Effective_MACs"]) == pytest.approx((0.5, 3.0))
    # fc2 at S = 1: k1 = [1, 1], k2 = [1, 0]. Integer levels are binary: 3 + 1 ACs;
    # as real values (0.25, 0.5) they are MACs.
    s1 = neurobench_counts(toy(fc2_bits=1), _toy_data(), integer_spikes=True)
    assert s1["layers"]["fc2"] == pytest.approx({"effective_acs": 4, "effective_macs": 0, "dense": 8})
    s1_real = neurobench_counts(toy(fc2_bits=1), _toy_data(), integer_spikes=False)
    assert s1_real["layers"]["fc2"] == pytest.approx({"effective_acs": 0, "effective_macs": 4, "dense": 8})


def test_measure_activity_agrees_with_coarse_counter_and_dense_neurobench():
    model, _, x = _digits()
    data = TensorDataset(x, torch.zeros(len(x), dtype=torch.long))
    activity = measure_activity(model, data, batch_size=5, max_samples=12)
    with torch.no_grad(), record_activity(model) as coarse:
        model(x[:12])
    for name, a in activity.items():
        assert a.samples == 12
        assert sum(a.nonzero) == coarse[name].nonzero and sum(a.total) == coarse[name].total
        assert a.value_sum == pytest.approx(coarse[name].spike_sum, rel=1e-5)
        assert 0.0 < a.rate <= 1.0
    assert len(activity["conv2"].nonzero) == 3 and activity["conv1"].timesteps == 1
    counts = neurobench_counts(model, data, max_samples=12)
    # digits_cnn width 0.25: conv1 1→8 on 16×16 with padding: 8·(16·3 − 2)² = 16928 connections
    # per step; conv2 8→16 stride 2 onto 8×8: (8·3 − 1)²·8·16 = 67712; conv3 16→32 onto 4×4:
    # (4·3 − 1)²·16·32 = 61952; fc 32·10 = 320. Dense = Σ synapses·T.
    assert counts["layers"]["conv1"]["dense"] == pytest.approx(16928)
    assert counts["layers"]["conv2"]["dense"] == pytest.approx(67712 * 3)
    assert counts["layers"]["conv3"]["dense"] == pytest.approx(61952 * 2)
    assert counts["layers"]["fc"]["dense"] == pytest.approx(320 * 2)
    assert counts["layers"]["fc"]["effective_macs"] == 0  # S = 1 integer spikes: accumulates only
    assert counts["layers"]["conv2"]["effective_acs"] + counts["layers"]["conv2"]["effective_macs"] < 67712 * 3


class _PlainDataset(torch.utils.data.Dataset):
    """A map-style dataset with no ``tensors`` (as event frames read from disk are)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):  # noqa: ANN204
        return self.x[i], torch.tensor(0)


def test_activity_and_counts_read_every_loader_type():
    """`spikebits evaluate` measures activity on whatever the data set's loader returns: a
    TensorDataset (digits), in-memory uint8 images (CIFAR, MNIST) or a plain map-style dataset
    (event frames), the first ``max_samples`` items of each alike."""
    from spikebits.evaluators.data import MemoryImages

    model, _, _ = _digits()
    pixels = (torch.rand(40, 1, 16, 16) * 255).round().to(torch.uint8)
    x = pixels.float() / 255
    kinds = [_toy_data(x), MemoryImages(pixels, torch.zeros(40, dtype=torch.long), (0.0,), (1.0,)), _PlainDataset(x)]
    rates = [activity_rates(measure_activity(model, d, max_samples=24, batch_size=10)) for d in kinds]
    counts = [neurobench_counts(model, d, max_samples=24, batch_size=10) for d in kinds]
    assert rates[0] == rates[1] == rates[2] and 0 < rates[0]["conv2"] < 1
    assert counts[0] == counts[1] == counts[2]
    assert rates[0] != activity_rates(measure_activity(model, kinds[0], max_samples=40))  # max_samples counts
