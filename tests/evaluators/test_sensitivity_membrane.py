"""The sensitivity measures with membrane bits U (issue 30): Ω_a and the output error at a
U-bit membrane against hand computations, the report's keys and cost, and a measurement on
digits whose cache tells a space with U from one without."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from spikebits.evaluators import Evaluator, sensitivity_measure
from spikebits.evaluators.sensitivity import activation_omega, output_error
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.evaluators.sensitivity_report import LayerSensitivity, SensitivityReport, spike_key
from spikebits.evaluators.training import make_loader
from spikebits.models import default_space, set_full_precision
from spikebits.space import ConfigError, LayerChoice, LayerOptions, SearchSpace

from tiny_snn import Tiny


def _neuron_mean(x: float, gamma: float, bits: int, timesteps: int, u_bits: int | None) -> float:
    """Refined neuron by hand (docs/membrane_bits.md): v'_t = v_{t−1} + x − s_{t−1}; with U
    bits, F = max(0, ⌈(U − S − 2)/2⌉), δ = γ·2^(−F), v_t = δ·clip(⌊v'_t/δ + ½⌋, −2^(U−1),
    2^(U−1) − 1) (U None: v_t = v'_t); s_t = γ·clip(⌊v_t/γ + ½⌋, 0, 2^S − 1)."""
    v = s = total = 0.0
    for _ in range(timesteps):
        v = v + x - s
        if u_bits is not None:
            delta = gamma * 2.0 ** -max(0, math.ceil((u_bits - bits - 2) / 2))
            v = delta * min(max(math.floor(v / delta + 0.5), -(2 ** (u_bits - 1))), 2 ** (u_bits - 1) - 1)
        s = gamma * min(max(math.floor(v / gamma + 0.5), 0), 2**bits - 1)
        total += s
    return total / timesteps


def _renewal_step(values: list[float], bits: int, grid: int = 50, p: float = 2.4) -> float:
    """Pure-Python step-size renewal of unsigned spikes: argmin over γ = (k/K)·max|x|/(2^b − 1)
    of mean|Q_γ(x) − x|^p."""
    levels = 2**bits - 1
    top = max(abs(v) for v in values)
    best, best_err = None, math.inf
    for k in range(1, grid + 1):
        step = top * k / grid / levels
        err = sum(abs(step * min(max(math.floor(v / step + 0.5), 0), levels) - v) ** p for v in values) / len(values)
        if err < best_err:
            best, best_err = step, err
    return best


def test_activation_omega_at_a_membrane_width_by_hand():
    # Currents in units that make the membrane matter: sub-threshold charge that a narrow
    # membrane rounds away, and a drive above the top level that a short range saturates.
    current = [[0.4, 0.3, 1.2, 9.0, -0.5], [0.7, 2.6, 0.05, 0.45, 5.5]]
    relu = [max(v, 0.0) for row in current for v in row]
    tensor = torch.tensor(current, dtype=torch.float64)
    results = {}
    for bits, timesteps in [(1, 3), (2, 2)]:
        gamma = _renewal_step(relu, bits)
        for u_bits in (None, 3, 4, 5, 8, 16):
            errors = [sum((_neuron_mean(x, gamma, bits, timesteps, u_bits) - max(x, 0.0)) ** 2 for x in row) for row in current]
            expected = 2.0 / 5 * (sum(errors) / len(errors))
            got = activation_omega(2.0, tensor, bits, timesteps, 5, u_bits)
            assert got == pytest.approx(expected, rel=1e-6), (bits, timesteps, u_bits)  # γ by the float32 renewal search
            results[(bits, timesteps, u_bits)] = got
        # U None is the unquantized neuron, the numbers of a report measured before U existed.
        assert results[(bits, timesteps, None)] == activation_omega(2.0, tensor, bits, timesteps, 5)
        # A narrow membrane (U ≤ S + 2: no fraction bits) costs more than an unquantized one. (Not
        # monotone in U: a charge a hair below a threshold n + ½ is stored on it and fires n + 1.)
        assert results[(bits, timesteps, 3)] > results[(bits, timesteps, None)]
    # U = S + 2 = 3 beside S = 1 keeps whole multiples of γ: 0.4γ-ish charges never add up to a spike.
    assert results[(1, 3, 3)] > results[(1, 3, 8)]


def test_output_error_sets_the_layers_membrane_and_restores_it():
    torch.manual_seed(4)
    model = set_full_precision(Tiny().double(), timesteps=2)
    x = torch.randn(16, 4, dtype=torch.float64)
    w2, b2 = model.l2.synapse.weight.detach(), model.l2.synapse.bias.detach()
    w1, b1 = model.l1.synapse.weight.detach(), model.l1.synapse.bias.detach()
    current = F.linear(torch.relu(x), w1, b1)  # l2's input current
    reference = F.linear(torch.relu(current), w2, b2)
    before = (model.l2.choice, model.l2.neuron.bits, model.l2.neuron.timesteps, model.l2.neuron.membrane_bits)
    errors = {}
    for u_bits in (None, 3, 4, 6):
        choice = LayerChoice(3, 2, 3, "uniform", u_bits)
        qp, q = 2 ** (choice.w_bits - 1) - 1, 2**choice.s_bits - 1
        alpha = 2 * float(w2.abs().mean()) / math.sqrt(qp)  # α₀ (LSQ)
        gamma = 2 * float(current.abs().mean()) / math.sqrt(q)  # γ₀
        w_q = alpha * torch.clamp(torch.round(w2 / alpha), -qp, qp)
        spikes = torch.tensor(
            [[_neuron_mean(float(c), gamma, choice.s_bits, choice.timesteps, u_bits) for c in row] for row in current], dtype=torch.float64
        )
        expected = float(((F.linear(spikes, w_q, b2) - reference) ** 2).sum(dim=1).mean())
        errors[u_bits] = output_error(model, "l2", choice, x)
        assert errors[u_bits] == pytest.approx(expected, rel=1e-9), u_bits
        assert (model.l2.choice, model.l2.neuron.bits, model.l2.neuron.timesteps, model.l2.neuron.membrane_bits) == before
    # The membrane is really set: a 3-bit one (S + 1) changes the output, an unquantized one does not.
    assert errors[3] != errors[None]
    assert len(set(errors.values())) >= 3


def _layer(name: str) -> LayerSensitivity:
    return LayerSensitivity(
        name=name, n_weights=40, n_inputs=10, trace=2.5, activation_trace=0.75, kurtosis=3.25,
        omega={"uniform4": 0.125},
        activation_omega={"S2T1U4": 0.25, "S2T1U8": 0.0625},
        output_error={"W4S2T1U4": 0.5, "W4S2T1U8": 0.03125},
    )


def test_report_keys_and_cost_carry_u():
    assert spike_key(2, 1) == "S2T1" and spike_key(2, 1, 8) == "S2T1U8"
    assert spike_key(2, 1, 8) == LayerChoice(4, 2, 1, "uniform", 8).short()[2:]
    report = SensitivityReport({"a": _layer("a")}, probes=3)
    assert SensitivityReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.cost("hessian", "a", LayerChoice(4, 2, 1, "uniform", 4)) == 0.125 + 0.25
    assert report.cost("hessian", "a", LayerChoice(4, 2, 1, "uniform", 8)) == 0.125 + 0.0625
    assert report.cost("output", "a", LayerChoice(4, 2, 1, "uniform", 8)) == 0.03125
    # A choice the report was not measured at, U included, says to measure again.
    with pytest.raises(ConfigError, match=r"no Hessian sensitivities for W4S2T1U16; measure the sensitivity again"):
        report.cost("hessian", "a", LayerChoice(4, 2, 1, "uniform", 16))
    with pytest.raises(ConfigError, match=r"no output errors for W4S2T1;"):
        report.cost("output", "a", LayerChoice(4, 2, 1))
    # What a space reads and the report lacks.
    options = LayerOptions((4,), (2,), (1,), ("uniform",), (4, 8))
    space = SearchSpace({"a": options}, pinned={})
    assert report.missing(space) is None
    assert report.missing(SearchSpace({"a": LayerOptions((4,), (2,), (1,), ("uniform",), (4, 8, 16))}, pinned={})) == (
        "activation_omega['S2T1U16'] of layer 'a'"
    )
    assert report.missing(SearchSpace({"a": LayerOptions((4,), (2,), (1,), ("uniform",))}, pinned={})) == "activation_omega['S2T1'] of layer 'a'"
    assert report.missing(SearchSpace({"b": options}, pinned={})) == "layer 'b'"


# ------------------------------------------------------------- on a small digits evaluator
OPTIONS = LayerOptions(w_bits=(2, 4), s_bits=(2,), timesteps=(1, 2), schemes=("uniform",))
SETTINGS = {"probes": 10, "batches": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def evaluators(tmp_path_factory):
    """digits_cnn at width 1/4, pretrained one epoch, one cache: the 2×1×2 space without U
    and the same space searching U in {4, 8} (the pinned conv1 keeps its unquantized membrane)."""
    cache = tmp_path_factory.mktemp("membrane-sensitivity")
    kwargs = {"model_kwargs": {"width": 0.25}, "pretrain_epochs": 1, "cache_dir": cache}
    probe = Evaluator("digits_cnn", "digits", **kwargs)
    space = default_space(probe.new_model(), OPTIONS)
    plain = Evaluator("digits_cnn", "digits", space=space, **kwargs)
    with_u = Evaluator("digits_cnn", "digits", space=space, membrane_bits=(4, 8), **kwargs)
    torch.manual_seed(0)
    plain.pretrained()
    return plain, with_u


@pytest.mark.slow
def test_measure_with_membrane_bits_keys_numbers_and_cache(evaluators, monkeypatch):
    plain, ev = evaluators
    assert ev.space.layers["conv2"].u_bits == (4, 8) and not ev.space.layers["conv1"].u_bits
    report = measure_sensitivity(ev, **SETTINGS)
    assert report.missing(ev.space) is None
    model = set_full_precision(ev.full_precision_model(), 1)
    model.eval()
    x = next(iter(make_loader(ev.data.train, SETTINGS["batch_size"], shuffle=False)))[0]
    for name, entry in report.layers.items():
        options = ev.space.layers[name]
        assert set(entry.output_error) == {c.short() for c in options.choices()}
        if name == "conv1":  # pinned: no U searched, the keys of before
            assert set(entry.activation_omega) == {"S2T1", "S2T2"}
            continue
        assert set(entry.activation_omega) == {f"S2T{t}U{u}" for t in (1, 2) for u in (4, 8)}
        choice = LayerChoice(2, 2, 2, "uniform", 4)
        assert report.cost("hessian", name, choice) == entry.omega["uniform2"] + entry.activation_omega["S2T2U4"]
        # Each output error is the layer alone at the whole choice, its neuron at U bits.
        assert entry.output_error["W2S2T2U4"] == pytest.approx(output_error(model, name, choice, x), rel=1e-6)
        assert entry.output_error["W2S2T2U4"] != output_error(model, name, LayerChoice(2, 2, 2), x)
    # The narrow membrane costs more on these currents, summed over the layers.
    free = [n for n in report.layers if n != "conv1"]
    assert sum(report.layers[n].activation_omega["S2T2U4"] for n in free) > sum(report.layers[n].activation_omega["S2T2U8"] for n in free)

    # The space without U is another cache file, with the keys of before.
    files_u = set(ev.cache_dir.glob("*-sensitivity-*.json"))
    plain_report = measure_sensitivity(plain, **SETTINGS)
    files = set(ev.cache_dir.glob("*-sensitivity-*.json"))
    assert len(files_u) == 1 and len(files) == 2
    assert set(plain_report.layers["conv2"].activation_omega) == {"S2T1", "S2T2"}
    assert plain_report.layers["conv2"].trace == report.layers["conv2"].trace  # the traces do not depend on U

    def fail(*args, **kwargs):
        raise RuntimeError("measured again")

    monkeypatch.setattr(sensitivity_measure, "hutchinson_traces", fail)
    assert measure_sensitivity(ev, **SETTINGS) == report  # read back
    # A cached report that lacks a U key (measured before Ω_a saw U) is measured again.
    (path,) = files_u
    data = json.loads(path.read_text())
    del data["layers"]["conv3"]["activation_omega"]["S2T1U4"]
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="measured again"):
        measure_sensitivity(ev, **SETTINGS)
