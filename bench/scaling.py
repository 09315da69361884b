"""How cost grows with the work: time per quantization-aware training step and its peak
memory as batch size, width and T double, and the time of one search trial as the training
set grows; with the fitted exponent k of cost ∝ work^k for each series, in one run.

Training step: forward + backward + Adam step, model in train mode, every unpinned layer at
W4/S2/T uniform (``models.apply_config``; the first layer stays pinned at W8/S8/T1), step
sizes set by ``evaluators.training.calibrate`` on the batch; random inputs (digits_cnn
1×16×16, resnet20 3×32×32, 10 classes). Width ×f: digits_cnn ``width=f`` (c = 32·f
channels), resnet20 ``widths=(128, 256, 512)·f``. One factor moves at a time from the base
point (the first batch size, the first T, and the width of the series); the batch-size and T
series run at each of ``--base-widths`` (reduced and full width), the width series at the
first batch size and T. Time: the median of ``--steps`` steps, after the two steps that
measure the memory and ``--warmup`` more.

Search trial: ``Evaluator("digits_cnn", "digits", epochs=1)(config)`` at W4/S2/T2 =
pretrained model set to the config, calibrated, fine-tuned 1 epoch on the training split,
scored on the (unchanged) test split, median of ``--trial-repeats`` trials after one warm-up
trial. The training split is cut to a fraction of its samples (nested seeded random subsets)
by a subclass that overrides the public ``Evaluator.data`` property: that property reads a
private field and ``DataSplit`` is frozen, so the loaded data cannot be replaced through
public attributes. Scoring does not shrink with the training set, so k < 1 is expected.

Peak memory: tensor memory allocated at the peak beyond what was allocated when the
measurement began (just before calibration: model, config and batch already in memory), so
saved activations, gradients, Adam state and temporaries. On CPU from the profiler
(``torch.profiler.profile(profile_memory=True)``): its trace's ``[memory]`` events carry the
CPU allocator's running total, whose maximum over calibration and the first two training
steps (or the first, untimed trial) is the peak; memory outside torch's allocator (oneDNN
scratch space, Python objects) is not counted. On CUDA ``torch.cuda.max_memory_allocated`` −
``memory_allocated`` at the start (tensors, not the caching allocator's reserve). tracemalloc
does not see torch's allocations, torch 2.13 has no CPU allocator statistics, and the growth
of ru_maxrss in a fresh process read 111 MiB for digits_cnn at batch 16 (tensors: 6 MiB),
as it also counts library pages and allocator slack. Timing runs outside the profiler.

Exponent: least squares of log(cost) on log(work), work = the varied value (batch size, width
factor, T, training samples). Ideal time exponents: 1 for batch, T and samples; 2 for width
(multiply-accumulates ∝ c²); memory: activations ∝ batch, T, c; weights and Adam state ∝ c².

    .venv/bin/python bench/scaling.py [--models digits_cnn,resnet20] [--device cpu] [--threads 2]
        [--steps 20] [--warmup 3] [--batches 16,32,64,128] [--widths 0.25,0.5,1]
        [--base-widths 0.25,1] [--timesteps 1,2,4] [--trial-fractions 0.25,0.5,1]
        [--trial-repeats 3] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import TensorDataset
from tqdm import tqdm

from spikebits import models
from spikebits.evaluators import DataSplit, Evaluator, resolve_device
from spikebits.evaluators.training import calibrate
from spikebits.space import LayerChoice, SpikebitsError, atomic_write_text

#: Channels of each model at width ×1.
FULL_WIDTHS = {"digits_cnn": 32, "resnet20": (128, 256, 512)}
#: Input shape of each model's random batches.
INPUT_SHAPES = {"digits_cnn": (1, 16, 16), "resnet20": (3, 32, 32)}
NUM_CLASSES = 10
#: Bits of every unpinned layer (W, S) in the timed steps and trials; T of the trials.
W_BITS, S_BITS, TRIAL_TIMESTEPS = 4, 2, 2
#: Ideal exponent of time per unit of work, by factor.
IDEAL_TIME = {"batch": "1", "width": "2", "T": "1", "train samples": "1 (fine-tune part)"}


def fit_exponent(work: Sequence[float], cost: Sequence[float]) -> float:
    """The exponent k of cost ≈ a·work^k by least squares on log–log:

        k = Σ (xᵢ − x̄)(yᵢ − ȳ) / Σ (xᵢ − x̄)²,  xᵢ = ln workᵢ, yᵢ = ln costᵢ

    NaN when a cost is not positive and finite or fewer than two distinct works are given."""
    if len(work) != len(cost):
        raise ValueError(f"{len(work)} works but {len(cost)} costs")
    if any(not (math.isfinite(c) and c > 0) for c in cost) or any(w <= 0 for w in work) or len(set(work)) < 2:
        return float("nan")
    x, y = np.log(np.asarray(work, dtype=float)), np.log(np.asarray(cost, dtype=float))
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))


def width_kwargs(model: str, factor: float) -> dict:
    """``models.build`` arguments of ``model`` at width ×``factor`` (10 classes, its input shape)."""
    channels, size = INPUT_SHAPES[model][0], INPUT_SHAPES[model][-1]
    kwargs = {"num_classes": NUM_CLASSES, "in_channels": channels, "image_size": size}
    if model == "digits_cnn":
        kwargs["width"] = factor
    else:
        kwargs["widths"] = tuple(max(1, round(c * factor)) for c in FULL_WIDTHS[model])
    return kwargs


class PeakMemory:
    """``with PeakMemory(device) as memory: ...`` then ``memory.mib``: the peak tensor memory
    allocated inside the block beyond what was allocated when it began, in MiB.

    CPU: the maximum of the CPU allocator's running total (``Total Allocated``) over the
    profiler trace's ``[memory]`` events, less the total just before the first event (the
    total also counts earlier profiled tensors still alive). CUDA: max_memory_allocated."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib = float("nan")
        self.start = 0
        self.profiler: profile | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()  # earlier points' tensors are freed now, not inside the block
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            self.profiler.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
            return
        assert self.profiler is not None
        self.profiler.__exit__(*exc)
        if exc[0] is not None:
            return
        with tempfile.TemporaryDirectory(prefix="sb-scaling-") as folder:
            trace = Path(folder) / "trace.json"
            self.profiler.export_chrome_trace(str(trace))
            events = json.loads(trace.read_text())["traceEvents"]
        totals = [(e["args"]["Total Allocated"], e["args"]["Bytes"]) for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type", 0) == 0]
        self.mib = (max(t for t, _ in totals) - (totals[0][0] - totals[0][1])) / 2**20 if totals else 0.0


def step_time(model, optimizer, x, y) -> float:
    """Seconds of one training step: forward, cross-entropy, backward, optimizer step."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    sync()
    return time.perf_counter() - start


def measure_step(model_name: str, batch: int, width: float, timesteps: int, steps: int, warmup: int, device: torch.device) -> dict:
    """Median step time (ms) and peak memory (MiB) of one training point.

    Calibration and the first two steps run under :class:`PeakMemory`; then ``warmup`` steps,
    then ``steps`` timed steps."""
    torch.manual_seed(0)
    model = models.build(model_name, **width_kwargs(model_name, width))
    config = models.default_space(model).uniform(LayerChoice(W_BITS, S_BITS, timesteps, "uniform"))
    models.apply_config(model, config).to(device)
    x = torch.rand(batch, *INPUT_SHAPES[model_name], device=device)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    with PeakMemory(device) as memory:
        calibrate(model, TensorDataset(x, y), device=device, batch_size=batch)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(2):
            step_time(model, optimizer, x, y)
    for _ in range(warmup):
        step_time(model, optimizer, x, y)
    times = [step_time(model, optimizer, x, y) for _ in range(steps)]
    return {"ms": 1000 * statistics.median(times), "peak_mib": memory.mib}


class SubsampledEvaluator(Evaluator):
    """An :class:`Evaluator` whose training split is the first ``train_size`` samples of a
    seeded permutation of the full one (so smaller subsets are nested in larger ones); the
    test split is unchanged. ``train_size=None``: the full split (used for pretraining, whose
    cache key does not name the number of samples)."""

    train_size: int | None = None
    subset: DataSplit | None = None

    @property
    def data(self) -> DataSplit:
        full = super().data
        if self.train_size is None or self.train_size >= len(full.train):
            return full
        if self.subset is None or len(self.subset.train) != self.train_size:
            order = torch.randperm(len(full.train), generator=torch.Generator().manual_seed(self.seed))[: self.train_size]
            self.subset = dataclasses.replace(full, train=TensorDataset(*(t[order] for t in full.train.tensors)))
        return self.subset


def measure_trial(evaluator: SubsampledEvaluator, fraction: float, repeats: int) -> dict:
    """Median trial time (ms) of ``repeats`` trials, the peak memory (MiB) of one more trial run
    first (the warm-up), and the number of training samples, at ``fraction`` of the training split."""
    evaluator.train_size = None
    evaluator.train_size = max(1, round(fraction * len(evaluator.data.train)))
    samples = len(evaluator.data.train)  # also makes the subset before the measurement
    config = evaluator.space.uniform(LayerChoice(W_BITS, S_BITS, TRIAL_TIMESTEPS, "uniform"))
    sync = torch.cuda.synchronize if evaluator.device.type == "cuda" else (lambda: None)
    with PeakMemory(evaluator.device) as memory:
        evaluator(config)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        evaluator(config)
        sync()
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * statistics.median(times), "peak_mib": memory.mib, "samples": samples}


@dataclasses.dataclass
class Series:
    """One factor varied from a base point: its values and what each point measured.

    ``base`` is the training point ``{"batch", "width", "T"}`` the factor moves away from
    (empty for the trial series)."""

    model: str
    title: str
    factor: str
    unit: str
    fixed: str
    values: list[float]
    base: dict = dataclasses.field(default_factory=dict)
    points: list[dict] = dataclasses.field(default_factory=list)

    def step_key(self, value: float) -> tuple[str, int, float, int]:
        """(model, batch, width, T) of the training point at ``value``."""
        point = {**self.base, self.factor: value}
        return (self.model, int(point["batch"]), float(point["width"]), int(point["T"]))

    def label(self, i: int) -> str:
        if self.factor == "train samples":
            return f"{self.points[i]['samples']} ({fraction_label(self.values[i])})"
        if self.factor == "width":
            return f"×{fraction_label(self.values[i])}"
        return str(self.values[i])

    def work(self) -> list[float]:
        return [p["samples"] for p in self.points] if self.factor == "train samples" else list(self.values)

    def exponents(self) -> tuple[float, float]:
        work = self.work()
        return fit_exponent(work, [p["ms"] for p in self.points]), fit_exponent(work, [p["peak_mib"] for p in self.points])


def fraction_label(value: float) -> str:
    return str(Fraction(value).limit_denominator(64))


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def float_list(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base > 0 and math.isfinite(value) else "n/a"


def print_series(series: Series) -> None:
    print(f"\n{series.title}: {series.factor} ({series.fixed})")
    print(f"  {series.factor:>14}  {series.unit:>10}  {'peak MiB':>9}  {'time ×':>7}  {'memory ×':>8}")
    base = series.points[0]
    for i, p in enumerate(series.points):
        time_ratio, memory_ratio = ratio(p["ms"], base["ms"]), ratio(p["peak_mib"], base["peak_mib"])
        print(f"  {series.label(i):>14}  {p['ms']:>10.2f}  {p['peak_mib']:>9.1f}  {time_ratio:>7}  {memory_ratio:>8}")


def build_series(args: argparse.Namespace, model_names: list[str]) -> list[Series]:
    """The training series: batch and T at each base width, width at the first one."""
    b0, t0 = args.batches[0], args.timesteps[0]
    series = []
    for name in model_names:
        for w in args.base_widths:
            title, width = f"{name} ×{fraction_label(w)}", f"width ×{fraction_label(w)}"
            series.append(Series(name, title, "batch", "ms/step", f"{width}, T={t0}", list(args.batches), {"width": w, "T": t0}))
            series.append(Series(name, title, "T", "ms/step", f"{width}, batch {b0}", list(args.timesteps), {"width": w, "batch": b0}))
        series.append(Series(name, name, "width", "ms/step", f"batch {b0}, T={t0}", list(args.widths), {"batch": b0, "T": t0}))
    return series


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits_cnn,resnet20", help="comma-separated: digits_cnn, resnet20 (default both)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per point, median (default 20; --quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per point (default 3; --quick 1)")
    parser.add_argument("--batches", type=int_list, default=None, help="batch sizes, the first is the base (default 16,32,64,128; --quick 16,32)")
    parser.add_argument("--widths", type=float_list, default=None, help="width factors of the width series (default 0.25,0.5,1; --quick 0.5,1)")
    parser.add_argument(
        "--base-widths", type=float_list, default=None, help="widths at which the batch and T series run (default 0.25,1; --quick 1)"
    )
    parser.add_argument("--timesteps", type=int_list, default=None, help="T of every unpinned layer, the first is the base (default 1,2,4; --quick 1,2)")
    parser.add_argument(
        "--trial-fractions", type=float_list, default=None, help="fractions of the digits training split (default 0.25,0.5,1; --quick 0.125,0.25; empty: none)"
    )
    parser.add_argument("--trial-repeats", type=int, default=None, help="timed trials per point after one warm-up, median (default 3; --quick 1)")
    parser.add_argument("--pretrain-epochs", type=int, default=30, help="pretraining of the trials' digits_cnn, cached (default 30, the Evaluator's)")
    parser.add_argument("--cache-dir", default=None, help="pretraining cache (default $SPIKEBITS_CACHE or ~/.cache/spikebits)")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller points and steps (a smoke test)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the numbers to FILE")
    args = parser.parse_args(argv)
    defaults = {
        "steps": (20, 3),
        "warmup": (3, 1),
        "batches": ([16, 32, 64, 128], [16, 32]),
        "widths": ([0.25, 0.5, 1.0], [0.5, 1.0]),
        "base_widths": ([0.25, 1.0], [1.0]),
        "timesteps": ([1, 2, 4], [1, 2]),
        "trial_fractions": ([0.25, 0.5, 1.0], [0.125, 0.25]),
        "trial_repeats": (3, 1),
    }
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    model_names = [m for m in args.models.split(",") if m]
    unknown = sorted(set(model_names) - set(FULL_WIDTHS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(FULL_WIDTHS)}")
    try:
        device = resolve_device(args.device)
    except SpikebitsError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)

    series = build_series(args, model_names)
    measured: dict[tuple, dict] = {}  # a base point shared by several series is measured once
    keys = [s.step_key(v) for s in series for v in s.values]
    for key in tqdm(dict.fromkeys(keys), desc="training points", disable=None):
        measured[key] = measure_step(*key, args.steps, args.warmup, device)
    for s in series:
        s.points = [measured[s.step_key(v)] for v in s.values]
    if "digits_cnn" in model_names and args.trial_fractions:
        evaluator = SubsampledEvaluator(
            "digits_cnn", "digits", epochs=1, device=str(device), cache_dir=args.cache_dir, pretrain_epochs=args.pretrain_epochs
        )
        evaluator.pretrained()  # on the full training split (cached), before any timing
        fixed = f"1 fine-tune epoch + score, W{W_BITS}/S{S_BITS}/T{TRIAL_TIMESTEPS}"
        trials = Series("digits_cnn", "digits_cnn on digits", "train samples", "ms/trial", fixed, list(args.trial_fractions))
        for f in tqdm(args.trial_fractions, desc="trial points", disable=None):
            trials.points.append(measure_trial(evaluator, f, args.trial_repeats))
        series.append(trials)

    memory = "profiler's CPU allocator total" if device.type == "cpu" else "torch.cuda.max_memory_allocated"
    print(
        f"{device}, threads={args.threads}; training step = forward + backward + Adam, W{W_BITS}/S{S_BITS}/T uniform, calibrated; "
        f"median of {args.steps} steps after {2 + args.warmup}; peak MiB = tensor memory over setup ({memory})"
    )
    for s in series:
        print_series(s)
    print("\nexponent k of cost ∝ work^k (least squares on log–log)")
    print(f"  {'series':<34}  {'k time':>7}  {'k memory':>8}  ideal k (time)")
    for s in series:
        k_time, k_memory = s.exponents()
        print(f"  {s.title + ': ' + s.factor:<34}  {k_time:>7.2f}  {k_memory:>8.2f}  {IDEAL_TIME[s.factor]}")
    if args.json:
        blob = {
            "device": str(device),
            "threads": args.threads,
            "steps": args.steps,
            "warmup": args.warmup,
            "memory": memory,
            "series": [
                {
                    "model": s.model,
                    "title": s.title,
                    "factor": s.factor,
                    "unit": s.unit,
                    "fixed": s.fixed,
                    "values": s.values,
                    "work": s.work(),
                    "points": s.points,
                    "k_time": finite_or_none(s.exponents()[0]),
                    "k_memory": finite_or_none(s.exponents()[1]),
                }
                for s in series
            ],
        }
        atomic_write_text(args.json, json.dumps(blob, indent=2) + "\n", what="the scaling numbers")


if __name__ == "__main__":
    main()
