"""Cost of the all-layer Hessian weight trace ÷ one full-precision training epoch, digits_cnn.

The trace is :func:`evaluators.sensitivity.hutchinson_traces` over the synapse weights of all
four layers, 10 probes (min_probes = max_probes, no early stop) on one batch of ``--batch``
training images (each probe: one Rademacher vector per layer and one double backward per
layer, on the graph of one forward + differentiable backward built once). The epoch is
:func:`evaluators.training.train` for one epoch over the whole training set (1,437 images,
batch 64) on a fresh copy of the same pretrained model. Both at T = ``--timesteps``, in one
process, interleaved ``--repeats`` times (medians), so machine noise hits both alike.
Also prints the joint variant (one double backward for all layers) for comparison.
Target: ratio <= 3.

    .venv/bin/python bench/sensitivity_cost.py [--probes 10] [--batch 64] [--timesteps 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from spikebits.evaluators import Evaluator, TrainSettings, train
from spikebits.evaluators.sensitivity import hutchinson_traces
from spikebits.evaluators.training import make_loader
from spikebits.models import set_full_precision


def trace_time(model, batch, probes: int, joint: bool) -> float:
    weights = {name: layer.synapse.weight for name, layer in model.spiking_layers().items()}
    start = time.perf_counter()
    _, used = hutchinson_traces(model, F.cross_entropy, [batch], weights, max_probes=probes, min_probes=probes, joint=joint)
    elapsed = time.perf_counter() - start
    assert used == probes
    return elapsed


def epoch_time(model, data, batch_size: int) -> float:
    fresh = copy.deepcopy(model)
    start = time.perf_counter()
    train(fresh, data, TrainSettings(epochs=1, batch_size=batch_size))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64, help="images in the one probe batch")
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    evaluator = Evaluator("digits_cnn", "digits", device=args.device)
    model = set_full_precision(evaluator.full_precision_model(), args.timesteps)  # pretrained (cached)
    model.eval()
    x, y = next(iter(make_loader(evaluator.data.train, args.batch, shuffle=False)))
    batch = (x.to(evaluator.device), y.to(evaluator.device))
    trace_time(model, batch, 2, False)  # warm-up
    epoch_time(model, evaluator.data.train, args.train_batch)
    traces, joints, epochs = [], [], []
    for _ in range(args.repeats):
        traces.append(trace_time(model, batch, args.probes, joint=False))
        joints.append(trace_time(model, batch, args.probes, joint=True))
        epochs.append(epoch_time(model, evaluator.data.train, args.train_batch))
    t, j, e = statistics.median(traces), statistics.median(joints), statistics.median(epochs)
    n = len(evaluator.data.train)
    print(f"digits_cnn, T={args.timesteps}, {args.threads} threads, {args.repeats} repeats (median)")
    print(f"weight traces, 4 layers, {args.probes} probes on 1 batch of {args.batch}: {1000 * t:.0f} ms ({1000 * t / args.probes:.1f} ms/probe)")
    print(f"  joint variant (one double backward per probe): {1000 * j:.0f} ms")
    print(f"full-precision training epoch ({n} images, batch {args.train_batch}): {1000 * e:.0f} ms")
    print(f"ratio trace / epoch: {t / e:.3f}  (target <= 3); joint: {j / e:.3f}")


if __name__ == "__main__":
    main()
