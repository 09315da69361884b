"""Training step time with the synapse run once per time step (what NeuroBench's hooks would
need built in) ÷ the temporal-squeeze path spikebits uses (one synaptic pass on mean_t s_t).

Both run digits_cnn at the same config (default W4/S2/T2) on the same batch, in one process,
interleaved. The per-step path gives the same numbers; this measures what it would cost every
training step, against the 10 % that issue 18 allows a built-in NeuroBench path. Measured on 2
CPU cores: 1.45–1.48. So the per-step path runs only where it is watched (``models.hooked``):
in eval mode, on the layers and neurons that carry a module hook (NeuroBench's); training
and unwatched inference run the one-pass path. The second line prints what watching costs
an eval forward: watched (a no-op hook on every deployed synapse and firing module, as
NeuroBench's ``TorchModel`` registers them) ÷ unwatched.

    .venv/bin/python bench/neurobench_overhead.py [--steps 60] [--batch 64] [--bits 4/2/2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spikebits import models
from spikebits.evaluators.activity import probe_synapses
from spikebits.space import LayerChoice


def make(choice: LayerChoice):  # noqa: ANN201 - (model, optimizer)
    torch.manual_seed(0)
    model = models.build("digits_cnn")
    space = models.default_space(model)
    models.apply_config(model, space.expand({n: choice for n in space.decisions}))
    return model, torch.optim.Adam(model.parameters())


def per_step(name, layer, spikes):  # noqa: ANN001, ANN201 - a probe_synapses function
    """Σ_t synapse(s_t) / T + bias, one synaptic pass per step (autograd through each)."""
    w, syn = layer.quantized_weight(), layer.synapse
    total = 0
    for t in range(spikes.shape[0]):
        if isinstance(syn, torch.nn.Conv2d):
            total = total + F.conv2d(spikes[t], w, None, syn.stride, syn.padding, syn.dilation, syn.groups)
        else:
            total = total + F.linear(spikes[t], w)
    out = total / spikes.shape[0]
    if syn.bias is not None:
        out = out + (syn.bias.view(1, -1, 1, 1) if out.dim() == 4 else syn.bias)
    return out


def step(model, optimizer, x, y, stepwise: bool) -> float:
    start = time.perf_counter()
    if stepwise:
        with probe_synapses(model, per_step):
            loss = F.cross_entropy(model(x), y)
    else:
        loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--bits", default="4/2/2", help="W/S/T of every searchable layer")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    w, s, t = (int(v) for v in args.bits.split("/"))
    choice = LayerChoice(w, s, t)
    x, y = torch.rand(args.batch, 1, 16, 16), torch.randint(0, 10, (args.batch,))
    squeeze, stepwise = make(choice), make(choice)
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(args.steps + 5):
        a, b = step(*squeeze, x, y, False), step(*stepwise, x, y, True)
        if i >= 5:  # warm-up: step sizes initialise, allocator settles
            times[False].append(a)
            times[True].append(b)
    one, per = statistics.median(times[False]), statistics.median(times[True])
    print(f"digits_cnn {args.bits}: one pass {one * 1e3:.1f} ms, per step {per * 1e3:.1f} ms, ratio {per / one:.3f}")
    plain, watched = eval_times(squeeze[0], x, args.steps)
    print(f"digits_cnn {args.bits} eval forward: unwatched {plain * 1e3:.1f} ms, watched {watched * 1e3:.1f} ms, ratio {watched / plain:.3f}")


def eval_times(model, x, steps: int) -> tuple[float, float]:  # noqa: ANN001
    """Median eval forward time (no grad) unwatched and watched, interleaved."""
    model.eval()
    watched_modules = [m for layer in model.spiking_layers().values() for m in (layer.deployed, layer.neuron.firing)]
    times: dict[bool, list[float]] = {False: [], True: []}
    with torch.no_grad():
        for i in range(steps + 5):
            for watch in (False, True):
                handles = [m.register_forward_pre_hook(lambda module, args: None) for m in watched_modules] if watch else []
                start = time.perf_counter()
                model(x)
                if i >= 5:
                    times[watch].append(time.perf_counter() - start)
                for handle in handles:
                    handle.remove()
    return statistics.median(times[False]), statistics.median(times[True])


if __name__ == "__main__":
    main()
