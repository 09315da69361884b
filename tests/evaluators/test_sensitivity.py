"""Layer sensitivity: Hutchinson traces against exact Hessians, HAWQ Ω, output error and
kurtosis against hand computations, the report and its cache on real digits."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from spikebits.evaluators import Evaluator, sensitivity_measure
from spikebits.evaluators.sensitivity import activation_omega, hawq_omega, hutchinson_traces, output_error, pearson_kurtosis
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.evaluators.sensitivity_report import LayerSensitivity, SensitivityReport
from spikebits.models import default_space, set_full_precision
from spikebits.space import ConfigError, LayerChoice, LayerOptions

from tiny_snn import Tiny, exact_weight_hessian


def tiny(seed: int = 0, batch: int = 64, n_batches: int = 2, timesteps: int = 2):
    """A float64 tiny network, full precision at T = 2 in both layers, eval mode, and batches."""
    torch.manual_seed(seed)
    model = Tiny().double()
    for layer in model.spiking_layers().values():
        layer.configure(None, timesteps=timesteps)
    model.eval()
    batches = [(torch.randn(batch, 4, dtype=torch.float64), torch.randint(0, 3, (batch,))) for _ in range(n_batches)]
    return model, batches


def test_weight_traces_match_the_exact_hessian():
    model, batches = tiny()
    hessian = exact_weight_hessian(model, batches)
    blocks = {"l1": slice(0, 20), "l2": slice(20, 35)}
    exact = {n: float(hessian[s, s].diagonal().sum()) for n, s in blocks.items()}
    tensors = {"l1": model.l1.synapse.weight, "l2": model.l2.synapse.weight}
    probes = 200
    for joint in (False, True):
        traces, used = hutchinson_traces(model, F.cross_entropy, batches, tensors, max_probes=probes, min_probes=probes, joint=joint)
        assert used == probes
        for name, s in blocks.items():
            block = hessian[s, s]
            # Exact per-probe variance of the estimator: 2·Σ_{i≠j} H_ll,ij² (+ Σ_{k≠l} ‖H_lk‖² jointly).
            var = 2 * float((block**2).sum() - (block.diagonal() ** 2).sum())
            if joint:
                var += float((hessian[s] ** 2).sum() - (block**2).sum())
            sigma = math.sqrt(var / probes)
            assert exact[name] > 0
            assert abs(traces[name] - exact[name]) <= 4 * sigma, (joint, name, traces[name], exact[name], sigma)
            if not joint:
                assert traces[name] == pytest.approx(exact[name], rel=0.10)
                assert sigma / exact[name] < 0.05  # so 10% is a 2σ+ margin here


def test_activation_traces_match_the_exact_hessian():
    model, batches = tiny(seed=1, batch=32)
    exact = {"l1": 0.0, "l2": 0.0}
    for x, y in batches:
        h = torch.autograd.functional.hessian(lambda v, y=y: F.cross_entropy(model(v), y), x)
        exact["l1"] += float(h.reshape(x.numel(), -1).diagonal().sum()) / len(batches)
        with torch.no_grad():
            current = model.l1(x)  # the input current of l2's neuron
        h = torch.autograd.functional.hessian(lambda c, y=y: F.cross_entropy(model.l2(c), y), current)
        exact["l2"] += float(h.reshape(current.numel(), -1).diagonal().sum()) / len(batches)
    tensors = {"l1": model.l1.neuron, "l2": model.l2.neuron}
    traces, used = hutchinson_traces(model, F.cross_entropy, batches, tensors, max_probes=200, min_probes=200, seed=3)
    assert used == 200
    for name in exact:
        assert exact[name] > 0
        assert traces[name] == pytest.approx(exact[name], rel=0.10), (name, traces[name], exact[name])
    # Recomputing each batch's graph inside the probe loop gives the very same numbers.
    again, _ = hutchinson_traces(model, F.cross_entropy, batches, tensors, max_probes=20, min_probes=20, seed=3, keep_graphs=False)
    first, _ = hutchinson_traces(model, F.cross_entropy, batches, tensors, max_probes=20, min_probes=20, seed=3)
    assert again == pytest.approx(first, rel=1e-12)


def test_tolerance_stop_follows_the_running_mean_of_the_total():
    model, batches = tiny(seed=2, batch=16, n_batches=1)
    tensors = {"l1": model.l1.synapse.weight, "l2": model.l2.synapse.weight}
    run = lambda **kw: hutchinson_traces(model, F.cross_entropy, batches, tensors, seed=5, **kw)  # noqa: E731
    # Same seed, same z sequence: the mean of the first k probes is the run capped at k.
    means = [sum(run(max_probes=k, min_probes=k, tol=0.0)[0].values()) for k in range(1, 31)]
    tol = 0.03
    expected = next(
        (k + 1 for k in range(4, 30) if abs(means[k] - means[k - 1]) <= tol * abs(means[k - 1])),
        30,
    )
    traces, used = run(max_probes=30, min_probes=5, tol=tol)
    assert used == expected
    assert sum(traces.values()) == pytest.approx(means[used - 1], rel=1e-12)
    assert run(max_probes=30, min_probes=5, tol=0.0)[1] == 30
    assert run(max_probes=30, min_probes=5, tol=1e9)[1] == 5


def _grid_step(values: list[float], quantize, levels: int, grid: int = 50, p: float = 2.4) -> float:
    """Pure-Python step-size renewal: argmin over steps r_k/levels, r_k = k/K·max|x|, of mean|Q − x|^p."""
    top = max(abs(v) for v in values)
    best, best_err = None, math.inf
    for k in range(1, grid + 1):
        step = top * k / grid / levels
        err = sum(abs(quantize(v, step) - v) ** p for v in values) / len(values)
        if err < best_err:
            best, best_err = step, err
    return best


def _uniform(v: float, alpha: float, bits: int) -> float:
    qp = 2 ** (bits - 1) - 1
    return alpha * min(max(round(v / alpha), -qp), qp)


def _pow2(v: float, alpha: float, bits: int) -> float:
    k_max = 2 ** (bits - 1) - 2
    u = min(max(v / alpha, -1.0), 1.0)
    if u == 0:
        return 0.0
    e = round(math.log2(abs(u)))
    return 0.0 if e < -k_max else alpha * math.copysign(2.0 ** min(max(e, -k_max), 0), u)


def test_hawq_omega_by_hand():
    w = [0.1, -0.4, 0.25, 0.9, -0.05, 0.6, -0.33, 0.02]
    weight = torch.tensor(w)
    trace = 3.5
    # 2-bit uniform: levels {−α, 0, α}.
    alpha = _grid_step(w, lambda v, a: _uniform(v, a, 2), levels=1)
    error = sum((_uniform(v, alpha, 2) - v) ** 2 for v in w)
    assert hawq_omega(trace, weight, 2, "uniform") == pytest.approx(trace / len(w) * error, rel=1e-5)
    # 3-bit power of two: levels {0, ±α, ±α/2, ±α/4}.
    alpha = _grid_step(w, lambda v, a: _pow2(v, a, 3), levels=1)
    error = sum((_pow2(v, alpha, 3) - v) ** 2 for v in w)
    assert hawq_omega(trace, weight, 3, "pow2") == pytest.approx(trace / len(w) * error, rel=1e-5)
    # 4-bit uniform (Q_p = 7, candidate steps r/7) and a weight grid that 2 bits represent exactly.
    alpha = _grid_step(w, lambda v, a: _uniform(v, a, 4), levels=7)
    error = sum((_uniform(v, alpha, 4) - v) ** 2 for v in w)
    assert hawq_omega(trace, weight, 4, "uniform") == pytest.approx(trace / len(w) * error, rel=1e-5)
    assert hawq_omega(trace, torch.tensor([0.5, -0.5, 0.0, 0.5]), 2, "uniform") == 0.0
    assert hawq_omega(trace, weight, 4, "uniform") < hawq_omega(trace, weight, 2, "uniform")


def _neuron_mean(x: float, gamma: float, bits: int, timesteps: int) -> float:
    """Refined neuron by hand: v_t = v_{t−1} + x − s_{t−1}, s_t = γ·clip(⌊v_t/γ + 0.5⌋, 0, 2^b − 1)."""
    v = s = total = 0.0
    for _ in range(timesteps):
        v = v + x - s
        s = gamma * min(max(math.floor(v / gamma + 0.5), 0), 2**bits - 1)
        total += s
    return total / timesteps


def test_activation_omega_by_hand():
    current = [[-0.5, 0.3, 1.2, 2.0], [0.7, -1.0, 0.05, 0.45]]
    relu = [max(v, 0.0) for row in current for v in row]
    for bits, timesteps in [(1, 1), (1, 3), (2, 2)]:
        q = 2**bits - 1
        gamma = _grid_step(relu, lambda v, g: g * min(max(math.floor(v / g + 0.5), 0), q), levels=q)
        errors = [sum((_neuron_mean(x, gamma, bits, timesteps) - max(x, 0.0)) ** 2 for x in row) for row in current]
        expected = 2.0 / 4 * (sum(errors) / len(errors))
        got = activation_omega(2.0, torch.tensor(current), bits, timesteps, n_inputs=4)
        assert got == pytest.approx(expected, rel=1e-5), (bits, timesteps)
    # More time steps average the rounding error away: 1-bit spikes over 3 steps beat 1 step.
    assert activation_omega(1.0, torch.tensor(current), 1, 3, 4) < activation_omega(1.0, torch.tensor(current), 1, 1, 4)


def _snapshot(model: Tiny) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "params": [id(p) for p in model.parameters()],
        "layers": {
            n: (l.choice, l.neuron.bits, l.neuron.timesteps, l.weight_quantizer.bits, l.weight_quantizer.scheme)
            for n, l in model.spiking_layers().items()
        },
        "training": model.training,
    }


def test_output_error_by_hand_and_model_left_as_it_came():
    torch.manual_seed(4)
    model = set_full_precision(Tiny().double(), timesteps=2)  # l1 at T = 1, l2 at T = 2
    x = torch.randn(16, 4, dtype=torch.float64)
    model.train()  # output_error switches to eval and back
    before = _snapshot(model)
    w1, b1 = model.l1.synapse.weight.detach(), model.l1.synapse.bias.detach()
    w2, b2 = model.l2.synapse.weight.detach(), model.l2.synapse.bias.detach()
    current = F.linear(torch.relu(x), w1, b1)  # l2's input current (full-precision l1, T = 1)
    reference = F.linear(torch.relu(current), w2, b2)  # full-precision l2: mean_t s_t = relu(c)
    for choice in (LayerChoice(2, 2, 2, "uniform"), LayerChoice(3, 1, 1, "uniform")):
        qp, q = 2 ** (choice.w_bits - 1) - 1, 2**choice.s_bits - 1
        alpha = 2 * float(w2.abs().mean()) / math.sqrt(qp)  # α₀ (LSQ)
        gamma = 2 * float(current.abs().mean()) / math.sqrt(q)  # γ₀
        w_q = alpha * torch.clamp(torch.round(w2 / alpha), -qp, qp)
        spikes = torch.tensor([[_neuron_mean(float(c), gamma, choice.s_bits, choice.timesteps) for c in row] for row in current], dtype=torch.float64)
        quantized = F.linear(spikes, w_q, b2)
        expected = float(((quantized - reference) ** 2).sum(dim=1).mean())
        assert expected > 0
        assert output_error(model, "l2", choice, x) == pytest.approx(expected, rel=1e-9)
        assert output_error(model, "l2", choice, x, reference=reference) == pytest.approx(expected, rel=1e-9)
        after = _snapshot(model)
        assert after["params"] == before["params"]
        assert after["layers"] == before["layers"] and after["training"] is True
        assert before["state"].keys() == after["state"].keys()
        assert all(torch.equal(before["state"][k], after["state"][k]) for k in before["state"])
    # A wide choice changes the output far less than a narrow one.
    assert output_error(model, "l2", LayerChoice(8, 8, 1), x) < output_error(model, "l2", LayerChoice(1, 1, 1), x) / 100
    with pytest.raises(ConfigError, match="no layer 'l3'"):
        output_error(model, "l3", LayerChoice(2, 2, 1), x)


def test_pearson_kurtosis_by_hand_and_against_scipy():
    # [1, 2, 3, 4]: μ = 2.5, E(w−μ)² = 1.25, E(w−μ)⁴ = 2.5625, κ = 2.5625/1.5625 = 1.64.
    assert pearson_kurtosis(torch.tensor([1.0, 2.0, 3.0, 4.0])) == pytest.approx(1.64, rel=1e-12)
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(64, 3, 3, 3))
    heavy = rng.standard_t(df=3, size=4096)
    for values in (normal, heavy):
        expected = scipy.stats.kurtosis(values.reshape(-1), fisher=False)
        assert pearson_kurtosis(torch.from_numpy(values)) == pytest.approx(expected, rel=1e-10)
        assert pearson_kurtosis(values.reshape(-1).tolist()) == pytest.approx(expected, rel=1e-10)
    assert pearson_kurtosis(torch.from_numpy(normal)) == pytest.approx(3.0, abs=0.3)
    assert pearson_kurtosis(torch.from_numpy(heavy)) > 5.0


def _layer(name: str) -> LayerSensitivity:
    return LayerSensitivity(
        name=name,
        n_weights=40,
        n_inputs=10,
        trace=2.5,
        activation_trace=0.75,
        kurtosis=3.25,
        omega={"uniform4": 0.125, "pow24": 0.5},
        activation_omega={"S2T1": 0.0625, "S2T2": 0.03125},
        output_error={"W4S2T1": 0.01, "W4pS2T2": 0.02},
    )


def test_report_round_trip_and_cost():
    report = SensitivityReport({"a": _layer("a"), "b": _layer("b")}, probes=37, settings={"probes": 200, "tol": 1e-3}, activation_probes=12)
    again = SensitivityReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert list(again.layers) == ["a", "b"]
    assert report.cost("hessian", "a", LayerChoice(4, 2, 2, "pow2")) == 0.5 + 0.03125
    assert report.cost("hessian", "b", LayerChoice(4, 2, 1, "uniform")) == 0.125 + 0.0625
    assert report.cost("output", "a", LayerChoice(4, 2, 2, "pow2")) == 0.02
    with pytest.raises(ConfigError, match="hessian, output"):
        report.cost("kurtosis", "a", LayerChoice(4, 2, 1))
    with pytest.raises(ConfigError, match="no layer 'c'"):
        report.cost("hessian", "c", LayerChoice(4, 2, 1))
    with pytest.raises(ConfigError, match="W8S2T1"):
        report.cost("hessian", "a", LayerChoice(8, 2, 1))


def _sensitivity_files(folder) -> list:
    return sorted(folder.glob("*-sensitivity-*.json"))


@pytest.mark.slow
def test_measure_sensitivity_on_digits_and_cache(digits_evaluator, monkeypatch):
    ev = digits_evaluator
    before = set(_sensitivity_files(ev.cache_dir))  # other tests share the session cache
    report = measure_sensitivity(ev, probes=10, batches=1, batch_size=32)
    assert list(report.layers) == ev.space.names == ["conv1", "conv2", "conv3", "fc"]
    assert report.probes == 10 and report.activation_probes == 10  # min_probes = 10 = max
    specs = {s.name: s for s in ev.specs}
    for name, entry in report.layers.items():
        options = ev.space.layers[name]
        assert entry.n_weights == specs[name].n_weights and entry.n_inputs == specs[name].n_inputs
        assert entry.trace > 0 and entry.activation_trace > 0, name
        assert set(entry.omega) == {f"{sc}{w}" for sc in options.schemes for w in options.w_bits}
        assert set(entry.activation_omega) == {f"S{s}T{t}" for s in options.s_bits for t in options.timesteps}
        assert set(entry.output_error) == {c.short() for c in options.choices()}
        assert all(v > 0 for v in entry.omega.values()) and all(v >= 0 for v in entry.output_error.values())
        # More weight bits, smaller Ω; more spike bits, smaller Ω_a.
        assert entry.omega["uniform8"] < entry.omega["uniform2"] < entry.omega["uniform1"]
        assert entry.activation_omega["S4T1"] < entry.activation_omega["S1T1"]
        assert entry.output_error["W8S4T1"] < entry.output_error["W1S1T1"]
        weight = ev.full_precision_model().spiking_layers()[name].synapse.weight
        assert entry.kurtosis == pytest.approx(scipy.stats.kurtosis(weight.detach().double().reshape(-1).numpy(), fisher=False), rel=1e-9)
        choice = LayerChoice(2, 2, 1, "pow2")
        assert report.cost("hessian", name, choice) == entry.omega["pow22"] + entry.activation_omega["S2T1"]
    files = [f for f in _sensitivity_files(ev.cache_dir) if f not in before]
    assert len(files) == 1 and files[0].name.startswith("digits_cnn-digits-seed0-")

    # Second call: read from the cache, nothing is measured.
    def fail(*args, **kwargs):
        raise RuntimeError("measured again")

    monkeypatch.setattr(sensitivity_measure, "hutchinson_traces", fail)
    assert measure_sensitivity(ev, probes=10, batches=1, batch_size=32) == report
    # Other settings are another file; an unreadable file is measured again.
    with pytest.raises(RuntimeError, match="measured again"):
        measure_sensitivity(ev, probes=11, batches=1, batch_size=32)
    files[0].write_text("{not json")
    with pytest.raises(RuntimeError, match="measured again"):
        measure_sensitivity(ev, probes=10, batches=1, batch_size=32)
    # A cache holding a NaN is damaged too: measured again, never read as a number (issue 29).
    files[0].write_text(json.dumps(report.to_dict()).replace(str(report.layers["fc"].trace), "NaN", 1))
    assert "NaN" in files[0].read_text()
    with pytest.raises(RuntimeError, match="measured again"):
        measure_sensitivity(ev, probes=10, batches=1, batch_size=32)


@pytest.mark.slow
def test_resnet_shortcuts_get_no_activation_term(tmp_path):
    options = LayerOptions(w_bits=(2, 4), s_bits=(2,), timesteps=(1,), schemes=("uniform",))
    kwargs = {"widths": (4, 8, 8), "blocks": 1}
    ev = Evaluator("resnet20", "digits", pretrain_epochs=1, cache_dir=tmp_path, model_kwargs=kwargs)
    ev = Evaluator(
        "resnet20", "digits", pretrain_epochs=1, cache_dir=tmp_path, model_kwargs=kwargs, space=default_space(ev.new_model(), options)
    )
    report = measure_sensitivity(ev, probes=10, batches=1, batch_size=32)
    shortcuts = [n for n in report.layers if n.endswith("shortcut")]
    assert shortcuts == ["layer2.0.shortcut", "layer3.0.shortcut"]
    for name in shortcuts:
        entry, partner = report.layers[name], report.layers[ev.space.group_of(name)[0]]
        assert entry.activation_trace == 0.0 and set(entry.activation_omega.values()) == {0.0}
        assert entry.trace > 0 and entry.omega["uniform2"] > 0 and entry.output_error["W2S2T1"] > 0
        assert partner.activation_trace > 0 and partner.activation_omega["S2T1"] > 0
    assert statistics.mean(e.trace for e in report.layers.values()) > 0


def test_a_stop_request_ends_the_sensitivity_measurement_within_one_probe(tmp_path):
    """SIGINT/SIGTERM stop every phase within one unit of work: here a Hessian probe."""
    from spikebits.evaluators import Evaluator
    from spikebits.evaluators.sensitivity_measure import measure_sensitivity
    from spikebits.space import TrainingStopped

    ev = Evaluator("digits_cnn", "digits", pretrain_epochs=1, train_fraction=0.2, cache_dir=tmp_path, model_kwargs={"width": 0.25})
    ev.pretrained()
    seen: list[str] = []

    def progress(iterable, description, total):  # noqa: ANN001, ANN202
        for i, item in enumerate(iterable):
            seen.append(f"{description} {i}")
            if i == 2:
                ev.stop.request("a test")
            yield item

    with pytest.raises(TrainingStopped, match="Hessian probes"):
        measure_sensitivity(ev, probes=50, progress=progress)
    assert seen == ["Hessian probes 0", "Hessian probes 1", "Hessian probes 2"]
