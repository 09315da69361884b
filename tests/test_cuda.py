"""The CUDA paths against the CPU ones. Skipped where no GPU is present (CI); run them on a
machine with one: ``python -m pytest -q tests/test_cuda.py``."""

from __future__ import annotations

import pytest
import torch

from spikebits.evaluators import Evaluator, energy_report, measure_activity, neurobench_counts, simulate
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.models import load_sbq, save_sbq
from spikebits.search.differentiable import DifferentiableOptions, train_supernet
from spikebits.space import BitTargets, Config, LayerChoice

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CONFIG = Config(
    {
        "conv2": LayerChoice(3, 2, 2, "pow2"),
        "conv3": LayerChoice(2, 1, 1, "uniform"),
        "fc": LayerChoice(4, 3, 1, "uniform"),
    }
)


@pytest.fixture(scope="module")
def evaluators(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cuda-cache")
    cpu = Evaluator("digits_cnn", "digits", epochs=1, pretrain_epochs=5, cache_dir=cache, device="cpu")
    gpu = Evaluator("digits_cnn", "digits", epochs=1, pretrain_epochs=5, cache_dir=cache, device="cuda")
    return cpu, gpu


def test_finetune_and_score_on_cuda(evaluators):
    cpu, gpu = evaluators
    m_cpu, m_gpu = cpu(CONFIG), gpu(CONFIG)
    for key in ("bit_budget", "s_ace", "size_bits", "energy_pj"):
        assert m_gpu[key] == m_cpu[key]
    # Different kernels, same training: accuracy within a few test images of each other.
    assert abs(m_gpu["accuracy"] - m_cpu["accuracy"]) < 0.03
    assert m_gpu["accuracy"] > 0.8
    assert 0 < m_gpu["energy_pj_active"] < m_gpu["energy_pj"]


def test_simulator_activity_and_neurobench_on_cuda(evaluators):
    _, gpu = evaluators
    model = gpu.finetune(CONFIG, epochs=0)
    images, labels = gpu.data.test.tensors
    model.eval()
    with torch.no_grad():
        expected = model(images.cuda()).argmax(1).cpu()
    report = simulate(model, images.cuda(), labels=labels.cuda())
    assert torch.equal(report.logits.argmax(1).cpu(), expected)
    assert report.accuracy == pytest.approx(float((expected == labels).float().mean()))
    dense = simulate(model, images[:16].cuda(), force_levels="max", energy_model="bitserial45nm")
    full = gpu.space.complete(CONFIG, strict=False)
    assert dense.energy_pj == pytest.approx(energy_report(gpu.specs, full, "bitserial45nm").total_pj, rel=1e-9)
    activity = measure_activity(model, gpu.data.test, device="cuda")
    assert 0 < activity["conv2"].rate < 1
    counts = neurobench_counts(model, gpu.data.test, device="cuda")
    assert counts["Effective_ACs"] > 0 and counts["Effective_MACs"] > 0


def test_supernet_and_hessian_on_cuda(evaluators):
    _, gpu = evaluators
    run = train_supernet(gpu, BitTargets(2, 2, 1), DifferentiableOptions(supernet_epochs=2), seed=0)
    assert run.config is not None and set(run.config) == set(gpu.space.names)
    report = measure_sensitivity(gpu, probes=4, batches=1)
    traces = [layer.trace for layer in report.layers.values()]
    assert all(t == t and t > 0 for t in traces)  # positive numbers, not NaN


def test_export_from_a_cuda_model_is_bit_exact_on_cpu(evaluators, tmp_path):
    _, gpu = evaluators
    model = gpu.finetune(CONFIG, epochs=0).cpu().eval()
    save_sbq(model, tmp_path / "m.sbq")
    loaded = load_sbq(tmp_path / "m.sbq")
    x = gpu.data.test.tensors[0][:32]
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
