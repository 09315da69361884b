"""Bit-serial simulation time ÷ fake-quantized inference time, and simulated ÷ estimated energy.

digits_cnn on the digits test set (360 images), one fine-tuned config. Times, interleaved
``--repeats`` times in one process (medians):

* the fake-quantized model's forward over the test set (eval, no grad);
* :func:`evaluators.hardware.simulate` over the same images: every synapse recomputed as
  integer bit-plane passes plus the event and bit counts.

Energies per inference, all with the horowitz45nm constants: the dense estimate on the
bit-serial datapath (``bitserial45nm``), the event-driven estimate (rates measured on the test
set), and the simulation (which also skips the zero bits of non-zero spikes). Target: the
simulation costs at most 20× the inference it simulates.

    .venv/bin/python bench/hardware_sim.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from spikebits.evaluators import Evaluator, activity_rates, energy_report, measure_activity, simulate
from spikebits.space import Config, LayerChoice

CONFIG = Config(
    {
        "conv2": LayerChoice(3, 2, 2, "pow2"),
        "conv3": LayerChoice(2, 2, 1, "uniform"),
        "fc": LayerChoice(4, 4, 1, "uniform"),
    }
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs of the config")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    evaluator = Evaluator("digits_cnn", "digits", epochs=args.epochs)
    model = evaluator.finetune(CONFIG).eval()
    images, labels = evaluator.data.test.tensors

    infer, sim = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        with torch.no_grad():
            model(images)
        infer.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = simulate(model, images, labels=labels, energy_model="bitserial45nm")
        sim.append(time.perf_counter() - start)
    t_infer, t_sim = statistics.median(infer), statistics.median(sim)

    full = evaluator.space.complete(CONFIG, strict=False)
    dense = energy_report(evaluator.specs, full, "bitserial45nm")
    measured = energy_report(evaluator.specs, full, "bitserial45nm", rates=activity_rates(measure_activity(model, evaluator.data.test)))
    print(f"digits_cnn {CONFIG.short()}, {len(images)} test images, {args.threads} threads, medians of {args.repeats}")
    print(f"fake-quantized inference   {t_infer * 1e3:8.1f} ms")
    print(f"bit-serial simulation      {t_sim * 1e3:8.1f} ms")
    print(f"simulation ÷ inference     {t_sim / t_infer:8.2f}   (target <= 20)")
    print(f"simulated accuracy         {report.accuracy:.4f}")
    print(f"energy per inference (pJ, estimate): dense {dense.total_pj:.4g}, event-driven {measured.total_pj:.4g}, simulated {report.energy_pj:.4g}")
    print(f"simulated ÷ dense          {report.energy_pj / dense.total_pj:8.3f}")
    print(f"simulated ÷ event-driven   {report.energy_pj / measured.total_pj:8.3f}")
    print(f"cycles per inference       {report.cycles:.4g} (1 lane)")


if __name__ == "__main__":
    main()
