"""Supernet training step time ÷ fixed-config quantization-aware training step time, digits_cnn.

Both models start from the same weights at the same config (every unpinned layer at
W4/S2/T, uniform; conv1 pinned at W8/S8/T1), with step sizes calibrated on the same batch.
One is wrapped in a :class:`models.Supernet` over the default space (learnable B̂_w, B̂_s,t, T̂,
spike step-size renewal on) and trained like ``train_supernet``: cross-entropy + budget loss,
Adam on weights and bits, then ``clamp_``. The other is plain QAT (cross-entropy, Adam). The
budget target is the supernet's starting averages, and B̂ and T̂, though updated by Adam in
every timed step, are put back to their starting values after it (outside the timing), so
both models run the same integers (``--free-bits`` lets them drift, as in a real search: the
CE gradient alone moves single layers within a few steps); the script reports whether the
rounded config changed while timing.
Steps are interleaved on the same batch, in one process, so machine noise hits both alike.
Target: ratio <= 1.5.

    .venv/bin/python bench/supernet_overhead.py [--timesteps 2] [--steps 60] [--batch 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from spikebits import models
from spikebits.evaluators.training import calibrate
from spikebits.search.differentiable import DifferentiableOptions
from spikebits.space import BitTargets, LayerChoice


def step_time(model, optimizer, x, y, net=None, target=None) -> float:
    """One training step; with ``net`` the supernet's budget loss and clamp are included."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    if net is not None:
        loss = loss + net.budget_loss(target)[0]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if net is not None:
        net.clamp_()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2, help="T of every unpinned layer (default 2)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per model, after 5 warm-up steps (default 60)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--free-bits", action="store_true", help="do not restore B̂ and T̂ after each step (default: restore)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    t = args.timesteps
    space = models.default_space(models.build("digits_cnn"))  # default LayerOptions
    config = space.uniform(LayerChoice(4, 2, t, "uniform"))
    state = models.build("digits_cnn").state_dict()  # one random full-precision init for both
    x = torch.rand(args.batch, 1, 16, 16, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def configured() -> models.SpikingNetwork:
        model = models.build("digits_cnn")
        model.load_state_dict(state)  # full-precision weights first (T = 1), then the config
        models.apply_config(model, config)
        model.to(device)
        calibrate(model, TensorDataset(x, y), device=device, batch_size=args.batch)
        return model.train()

    quant = configured()
    supermodel = configured()
    net = models.Supernet(supermodel, space, models.layer_specs(supermodel))
    net.set_renewal(weights=False, spikes=True)
    lr_weights, lr_bits, _ = DifferentiableOptions().learning_rates()  # train_supernet's defaults
    with torch.no_grad():
        target = BitTargets(*(float(v) for v in net.averages()))
    opt_quant = torch.optim.Adam(quant.parameters(), lr_weights)
    opt_super = torch.optim.Adam([{"params": net.model_parameters(), "lr": lr_weights}, {"params": net.arch_params, "lr": lr_bits}])
    start_config = net.snap()
    start_bits = [p.detach().clone() for p in net.arch_params]

    def restore() -> None:
        if not args.free_bits:
            with torch.no_grad():
                for p, v in zip(net.arch_params, start_bits):
                    p.copy_(v)

    for _ in range(5):  # warm-up
        step_time(quant, opt_quant, x, y)
        step_time(supermodel, opt_super, x, y, net, target)
        restore()
    renewals_before = net.renewals()["spikes"]
    times_quant, times_super, drifted = [], [], 0
    for _ in range(args.steps):
        times_quant.append(step_time(quant, opt_quant, x, y))
        times_super.append(step_time(supermodel, opt_super, x, y, net, target))
        restore()
        drifted += net.snap() != start_config
    q, s = statistics.median(times_quant), statistics.median(times_super)
    renewals = net.renewals()["spikes"] - renewals_before
    print(f"digits_cnn, batch {args.batch}, T={t}, {args.device}, {args.threads} threads, {args.steps} steps each (median)")
    print(f"quantization-aware step ({config.short()}): {1000 * q:.2f} ms")
    print(f"supernet step ({len(net.arch_params)} bit parameters, target {target}, spike renewal on, bits {'free' if args.free_bits else 'restored'}): {1000 * s:.2f} ms")
    print(f"rounded config changed in {drifted} of {args.steps} timed steps; {renewals} spike renewals while timing")
    if drifted:
        print(f"  config at the end: {net.snap().short()}")
    verdict = "meets" if s / q <= 1.5 else "MISSES"
    print(f"ratio supernet / quantization-aware: {s / q:.3f}  (target <= 1.5: {verdict})")


if __name__ == "__main__":
    main()
