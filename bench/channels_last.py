"""Training step time in the channels-last (NHWC) memory format ÷ contiguous (NCHW), per family.

Each family runs at a reduced width with every layer at W4/S2/T2 on one batch of 3×32×32
inputs; both formats run in one process, interleaved, so that machine noise hits both
alike. A ratio below 1 means channels-last is faster (``--channels-last`` is worth it there).

    .venv/bin/python bench/channels_last.py [--steps 10] [--batch 32] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spikebits import models
from spikebits.space import LayerChoice

FAMILIES = {
    "resnet19": {"widths": (32, 64, 128), "blocks": (1, 1, 1), "head_width": 32},
    "sew_resnet18": {"widths": (16, 32, 64, 64), "stem": "cifar"},
    "vgg_dvs": {"widths": (16, 32, 32, 64, 64, 64, 64, 64), "in_channels": 3},
}


def make(name: str, channels_last: bool, device: str):  # noqa: ANN201 - (model, optimizer)
    torch.manual_seed(0)
    model = models.build(name, num_classes=10, image_size=32, **FAMILIES[name])
    space = models.default_space(model)
    models.apply_config(model, space.expand({n: LayerChoice(4, 2, 2) for n in space.decisions}))
    model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.optim.Adam(model.parameters())


def step(model, optimizer, x, y) -> float:
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(args.batch, 3, 32, 32, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    x_last = x.contiguous(memory_format=torch.channels_last)
    for name in FAMILIES:
        plain, last = make(name, False, args.device), make(name, True, args.device)
        times = {False: [], True: []}
        for i in range(args.steps + 2):
            a, b = step(*plain, x, y), step(*last, x_last, y)
            if i >= 2:  # the first steps initialise the step sizes and warm up
                times[False].append(a)
                times[True].append(b)
        ratio = statistics.median(times[True]) / statistics.median(times[False])
        print(f"{name:14s} contiguous {statistics.median(times[False]) * 1e3:7.1f} ms  "
              f"channels_last {statistics.median(times[True]) * 1e3:7.1f} ms  ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
