"""The Hessian trace on the quantized spiking network over its time steps (Lui & Neftci):
Hutchinson and autograd against a trace worked out from the forward pass by hand, and
``measure_sensitivity(network="quantized")`` against ``"full"`` on a small digits evaluator."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
import torch.nn.functional as F

from spikebits.evaluators import Evaluator, sensitivity_measure
from spikebits.evaluators.sensitivity import hutchinson_traces
from spikebits.evaluators.sensitivity_measure import SENSITIVITY_VERSION, measure_sensitivity
from spikebits.evaluators.training import calibrate, make_loader
from spikebits.models import SpikingLayer, apply_config, default_space
from spikebits.space import Config, ConfigError, LayerChoice, LayerOptions

from tiny_snn import Tiny, exact_weight_hessian


#: l1: W3 (Q_p = 3) S3 (Q = 7) T1; l2: W3 S2 (Q = 3) T2, with these step sizes.
CONFIG = Config({"l1": LayerChoice(3, 3, 1), "l2": LayerChoice(3, 2, 2)})
ALPHA = {"l1": 0.12, "l2": 0.12}
GAMMA = {"l1": (0.25,), "l2": (0.3, 0.2)}


def quantized_tiny(seed: int = 0, batch: int = 32, n_batches: int = 2):
    """A float64 tiny network at CONFIG with fixed step sizes, eval mode, and batches."""
    torch.manual_seed(seed)
    model = apply_config(Tiny().double(), CONFIG)
    with torch.no_grad():
        for name, layer in model.spiking_layers().items():
            layer.weight_quantizer.alpha.fill_(ALPHA[name])
            layer.weight_quantizer.initialized.fill_(True)
            layer.neuron.gamma.copy_(torch.tensor(GAMMA[name], dtype=torch.float64))
            layer.neuron.initialized.fill_(True)
    model.eval()
    batches = [(torch.randn(batch, 4, dtype=torch.float64) + 0.5, torch.randint(0, 3, (batch,))) for _ in range(n_batches)]
    return model, batches


def traces_by_hand(model: Tiny, batches) -> dict[str, float]:
    """Tr(H) of the mean cross-entropy with straight-through gradients, from the forward pass
    written out here (no autograd).

    Quantizers: W_q = α·clip(round(W/α), −3, 3), mask M = [|W/α| < 3]; s = γ·clip(⌊v/γ + 0.5⌋, 0, Q),
    mask m = [0 < v/γ < Q]. Forward: s¹ = Q(x) (l1, T = 1); c = W1_q s¹ + b1; l2's neuron
    v₁ = c, s₁ = Q(v₁; γ₁), v₂ = v₁ + c − s₁, s₂ = Q(v₂; γ₂), s̄ = (s₁ + s₂)/2; z = W2_q s̄ + b2.
    Straight through, ∂s̄/∂c = g = (m₁ + m₂·(2 − m₁))/2 and the network is linear in each of W1,
    W2, c and x given the masks, so per sample Tr(H) = Σ_θ (∂z/∂θ)ᵀ A (∂z/∂θ), A = diag(p) − ppᵀ:

    * W2: ∂z_k/∂W2_kj = M2_kj·s̄_j                 → Σ_kj M2_kj s̄_j² A_kk
    * W1: ∂z/∂W1_ij = W2_q[:, i]·g_i·M1_ij·s¹_j      → Σ_ij (g_i M1_ij s¹_j)² W2_q[:, i]ᵀA W2_q[:, i]
    * c:  ∂z/∂c_i = W2_q[:, i]·g_i                  → Σ_i g_i² W2_q[:, i]ᵀA W2_q[:, i]
    * x:  ∂z/∂x = W2_q diag(g) W1_q diag(m_x)      → tr(∂z/∂xᵀ A ∂z/∂x)

    averaged over every sample (equal batches: the mean over batches of the batch means).
    """

    def weight(layer: SpikingLayer) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = float(layer.weight_quantizer.alpha.detach())
        u = layer.synapse.weight.detach() / alpha
        return alpha * u.round().clamp(-3, 3), (u.abs() < 3).double()

    def spikes(v: torch.Tensor, gamma: float, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        u = v / gamma
        return gamma * torch.floor(u + 0.5).clamp(0, q), ((u > 0) & (u < q)).double()

    w1, m1 = weight(model.l1)
    w2, m2 = weight(model.l2)
    b1, b2 = model.l1.synapse.bias.detach(), model.l2.synapse.bias.detach()
    (g1,), (ga, gb) = GAMMA["l1"], GAMMA["l2"]
    total = dict.fromkeys(("l1", "l2", "current l1", "current l2"), 0.0)
    count = 0
    for x, _ in batches:
        s1, mx = spikes(x, g1, 7)
        c = s1 @ w1.T + b1
        sa, ma = spikes(c, ga, 3)
        sb, mb = spikes(c + c - sa, gb, 3)
        mean, gain = (sa + sb) / 2, (ma + mb * (2 - ma)) / 2
        p = torch.softmax(mean @ w2.T + b2, dim=1)
        a = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        curvature = torch.einsum("ki,nkl,li->ni", w2, a, w2)  # W2_q[:, i]ᵀ A_n W2_q[:, i]
        jx = torch.einsum("ki,ni,ij,nj->nkj", w2, gain, w1, mx)
        total["l2"] += float(torch.einsum("kj,nj,nk->", m2, mean**2, a.diagonal(dim1=1, dim2=2)))
        total["l1"] += float(torch.einsum("ni,ij,nj->", gain**2 * curvature, m1, s1**2))
        total["current l2"] += float((gain**2 * curvature).sum())
        total["current l1"] += float(torch.einsum("nkj,nkl,nlj->", jx, a, jx))
        count += len(x)
    return {k: v / count for k, v in total.items()}


def autograd_hessians(model: Tiny, batches) -> dict[str, list[torch.Tensor]]:
    """Exact Hessians by torch.autograd.functional.hessian (double backward through the
    quantizers): the weights' joint Hessian of the mean loss (one entry), and per batch the
    Hessian of that batch's loss in the image x and in l2's input current c."""
    out: dict[str, list[torch.Tensor]] = {"weights": [exact_weight_hessian(model, batches)], "x": [], "c": []}
    for x, y in batches:
        h = torch.autograd.functional.hessian(lambda v, y=y: F.cross_entropy(model(v), y), x)
        out["x"].append(h.reshape(x.numel(), -1))
        with torch.no_grad():
            current = model.l1(x)
        h = torch.autograd.functional.hessian(lambda v, y=y: F.cross_entropy(model.l2(v), y), current)
        out["c"].append(h.reshape(current.numel(), -1))
    return out


def _off_diagonal_sq(h: torch.Tensor) -> float:
    return float((h**2).sum() - (h.diagonal() ** 2).sum())


def test_quantized_traces_match_a_hand_computation_and_autograd():
    model, batches = quantized_tiny()
    hand = traces_by_hand(model, batches)
    # The masks matter here: some weights are clipped and l2's neuron clips at both steps.
    assert 0 < float(hand["l1"]) and 0 < float(hand["l2"])
    u1 = model.l1.synapse.weight.detach() / ALPHA["l1"]
    assert 0 < int((u1.abs() >= 3).sum()) < u1.numel()

    # 1. Double backward through the straight-through quantizers gives the hand trace exactly.
    exact = autograd_hessians(model, batches)
    hw = exact["weights"][0]
    blocks = {"l1": slice(0, 20), "l2": slice(20, 35)}
    for name, s in blocks.items():
        assert float(hw[s, s].diagonal().sum()) == pytest.approx(hand[name], rel=1e-10), name
    for key, name in (("x", "current l1"), ("c", "current l2")):
        assert sum(float(h.diagonal().sum()) for h in exact[key]) / len(batches) == pytest.approx(hand[name], rel=1e-10), name

    # 2. Hutchinson with many probes lands within 4σ of it. Per-probe variance of z_lᵀ(H z)_l:
    # 2·Σ_{i≠j} H_ij² for the weights (one z for every batch); for the currents each batch draws
    # its own z, so (1/n_b²)·Σ_b 2·Σ_{i≠j} H_b,ij². 4σ: a false alarm about once in 16 000 runs,
    # and the seed is fixed anyway.
    probes = 400
    tensors = {"l1": model.l1.synapse.weight, "l2": model.l2.synapse.weight}
    traces, used = hutchinson_traces(model, F.cross_entropy, batches, tensors, max_probes=probes, min_probes=probes, seed=1)
    assert used == probes
    for name, s in blocks.items():
        sigma = math.sqrt(2 * _off_diagonal_sq(hw[s, s]) / probes)
        assert sigma < 0.1 * hand[name]  # so the check has teeth
        assert abs(traces[name] - hand[name]) <= 4 * sigma, (name, traces[name], hand[name], sigma)
    neurons = {"current l1": model.l1.neuron, "current l2": model.l2.neuron}
    act, _ = hutchinson_traces(model, F.cross_entropy, batches, neurons, max_probes=probes, min_probes=probes, seed=2)
    for key, name in (("x", "current l1"), ("c", "current l2")):
        sigma = math.sqrt(sum(2 * _off_diagonal_sq(h) for h in exact[key]) / len(batches) ** 2 / probes)
        assert sigma < 0.1 * hand[name]
        assert abs(act[name] - hand[name]) <= 4 * sigma, (name, act[name], hand[name], sigma)


# ------------------------------------------------------------- on a small digits evaluator
OPTIONS = LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform",))


@pytest.fixture(scope="module")
def small_evaluator(tmp_path_factory):
    """digits_cnn at width 1/4, pretrained one epoch (about 2 s), a 2×2×2 space, its own cache."""
    cache = tmp_path_factory.mktemp("quantized-hessian")
    kwargs = {"model_kwargs": {"width": 0.25}, "pretrain_epochs": 1, "cache_dir": cache}
    probe = Evaluator("digits_cnn", "digits", **kwargs)
    ev = Evaluator("digits_cnn", "digits", space=default_space(probe.new_model(), OPTIONS), **kwargs)
    torch.manual_seed(0)  # the pretrained model's initial weights come from the global generator
    ev.pretrained()
    return ev


SETTINGS = {"probes": 10, "batches": 1, "batch_size": 32}


def _files(folder) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*-sensitivity-*.json"))}


def test_quantized_and_full_reports_differ_and_say_which(small_evaluator):
    ev = small_evaluator
    full = measure_sensitivity(ev, **SETTINGS)
    quantized = measure_sensitivity(ev, network="quantized", **SETTINGS)
    assert full.settings["network"] == "full" and quantized.settings["network"] == "quantized"
    assert {k: v for k, v in full.settings.items() if k != "network"} == {k: v for k, v in quantized.settings.items() if k != "network"}
    names = ["conv1", "conv2", "conv3", "fc"]
    assert list(quantized.layers) == names
    for name in names:
        f, q = full.layers[name], quantized.layers[name]
        assert q.trace > 0 and q.activation_trace > 0
        assert q.trace != f.trace and q.activation_trace != f.activation_trace, name
        # Ω scales with the trace; the quantization error, kurtosis and output errors are the
        # full-precision ones in both reports.
        for key in f.omega:
            assert q.omega[key] * f.trace == pytest.approx(f.omega[key] * q.trace, rel=1e-9)
        assert q.kurtosis == f.kurtosis and q.output_error == f.output_error
    # Not a rounding difference: some layer's trace moves by more than 5%.
    assert max(abs(quantized.layers[n].trace / full.layers[n].trace - 1) for n in names) > 0.05

    # The quantized network is the documented one: the largest config, calibrated, eval mode.
    config = ev.space.complete(ev.space.nearest_config(), strict=True)
    assert config["conv2"] == LayerChoice(4, 2, 2, "uniform") and config["conv1"] == ev.space.pinned["conv1"]
    model = apply_config(ev.full_precision_model(), config)
    calibrate(model, ev.data.train)
    x, y = next(iter(make_loader(ev.data.train, SETTINGS["batch_size"], shuffle=False)))
    weights = {n: layer.synapse.weight for n, layer in model.spiking_layers().items()}
    traces, used = hutchinson_traces(model, F.cross_entropy, [(x, y)], weights, max_probes=10, tol=1e-3, seed=0)
    assert used == quantized.probes
    # Same ops in the same order; the margin only allows a reordered float32 reduction.
    assert traces == pytest.approx({n: quantized.layers[n].trace for n in names}, rel=1e-6)

    with pytest.raises(ConfigError, match="Hessian network 'int8' is unknown; use one of full, quantized"):
        measure_sensitivity(ev, network="int8", **SETTINGS)


def test_cache_key_differs_between_networks(small_evaluator, monkeypatch):
    ev = small_evaluator
    full = measure_sensitivity(ev, **SETTINGS)
    quantized = measure_sensitivity(ev, network="quantized", **SETTINGS)
    files = _files(ev.cache_dir)
    ours = {name: data for name, data in files.items() if all(data["settings"][k] == v for k, v in SETTINGS.items())}
    by_network = {data["settings"]["network"]: name for name, data in ours.items()}
    assert len(ours) == 2
    assert set(by_network) == {"full", "quantized"} and by_network["full"] != by_network["quantized"]
    # The full report keeps the file name it had before the option existed (no "network" in the hash).
    settings = {k: v for k, v in full.settings.items() if k != "network"}
    blob = json.dumps({"settings": settings, "space": ev.space.to_dict(), "v": SENSITIVITY_VERSION}, sort_keys=True, default=str)
    assert by_network["full"].endswith(f"-sensitivity-{hashlib.sha256(blob.encode()).hexdigest()[:10]}.json")

    def fail(*args, **kwargs):
        raise RuntimeError("measured again")

    monkeypatch.setattr(sensitivity_measure, "hutchinson_traces", fail)
    assert measure_sensitivity(ev, network="quantized", **SETTINGS) == quantized
    assert measure_sensitivity(ev, **SETTINGS) == full
    # A full report cached before the option existed reads back as "full".
    path = ev.cache_dir / by_network["full"]
    data = files[by_network["full"]]
    del data["settings"]["network"]
    path.write_text(json.dumps(data))
    assert measure_sensitivity(ev, **SETTINGS) == full


def test_evaluator_memoises_per_network(small_evaluator):
    ev = small_evaluator
    quantized = ev.sensitivity(probes=10, batches=1, network="quantized")
    full = ev.sensitivity(probes=10, batches=1)
    assert quantized.settings["network"] == "quantized" and full.settings["network"] == "full"
    assert ev.sensitivity(probes=10, batches=1, network="quantized") is quantized
    assert ev.sensitivity(probes=10, batches=1, network="full") is full
