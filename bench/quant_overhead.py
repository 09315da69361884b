"""Quantization-aware training step time ÷ full-precision SNN training step time, digits_cnn.

Both models run the same architecture at the same T on the same batches, in one process,
interleaved so that machine noise hits both alike. The quantized model uses a mixed config
(uniform and power-of-two weights, 1-8 bit weights, 1-4 bit spikes). Target: ratio <= 1.3.

    .venv/bin/python bench/quant_overhead.py [--timesteps 2] [--steps 60] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spikebits import models
from spikebits.space import Config, LayerChoice


def step_time(model, optimizer, x, y) -> float:
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t = args.timesteps
    config = Config(
        {
            "conv1": LayerChoice(8, 8, 1),
            "conv2": LayerChoice(4, 2, t, "uniform"),
            "conv3": LayerChoice(2, 1, t, "pow2"),
            "fc": LayerChoice(8, 4, t, "uniform"),
        }
    )
    full = models.set_full_precision(models.build("digits_cnn"), timesteps=t).to(args.device)
    quant = models.apply_config(models.build("digits_cnn"), config)
    quant.load_state_dict(full.state_dict())  # same weights; step sizes set on first forward
    quant.to(args.device)
    x = torch.rand(args.batch, 1, 16, 16, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    with torch.no_grad():
        quant.eval()
        quant(x)  # initialise step sizes
    full.train()
    quant.train()
    opt_full = torch.optim.Adam(full.parameters(), 1e-3)
    opt_quant = torch.optim.Adam(quant.parameters(), 1e-3)
    for _ in range(5):  # warm-up
        step_time(full, opt_full, x, y)
        step_time(quant, opt_quant, x, y)
    times_full, times_quant = [], []
    for _ in range(args.steps):
        times_full.append(step_time(full, opt_full, x, y))
        times_quant.append(step_time(quant, opt_quant, x, y))
    f, q = statistics.median(times_full), statistics.median(times_quant)
    print(f"digits_cnn, batch {args.batch}, T={t}, {args.threads} threads, {args.steps} steps each (median)")
    print(f"full-precision SNN step: {1000 * f:.2f} ms")
    print(f"quantization-aware step ({config.short()}): {1000 * q:.2f} ms")
    print(f"ratio quantized / full precision: {q / f:.3f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
