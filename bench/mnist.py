"""spikebits at real size: MNIST (the real files, read in place) on this machine.

Three measurements, each printed and written to ``bench/results/mnist/`` (``results.json``
and ``report.md``, with the machine described):

1. ``pipeline``: one quantization-aware epoch of ``mnist_cnn`` at W2/S2/T2 through spikebits'
   own training loop (``evaluators.training.train``: the MNIST loader's in-memory uint8 images,
   batched by the DataLoader) ÷ one float epoch of the same network in a hand-written loop
   (float tensors in memory, sliced by a random permutation): the data pipeline's and the
   quantizers' cost together (target ≤ 1.3). The same epochs with 1 and 2 torch threads give
   the thread ratio that sets the default.
2. ``search``: the default differentiable search (``spikebits search --dataset mnist``, three
   targets) in a subprocess with an empty pretraining cache: wall time including pretraining
   (target ≤ 10 minutes), the full-precision accuracy (target ≥ 99.0 % test) and the front
   (targets: a point at bit budget ≤ 2 within 1 point of full precision, every point at bit
   budget ≥ 2 within 2 points).

Run it with nothing else on the machine:

    .venv/bin/python bench/mnist.py [--data-dir ../shared/data/mnist] [--only pipeline|search]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"
OUT = ROOT / "bench" / "results" / "mnist"


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def hand_float_epoch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    """Seconds for one float epoch over ``x``, ``y`` in a plain PyTorch loop."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    model.train()
    start = time.perf_counter()
    for i in range(0, len(order), batch):
        index = order[i : i + batch]
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def pipeline(data_dir: Path) -> dict:
    from spikebits.evaluators import Evaluator
    from spikebits.evaluators.training import TrainSettings, calibrate, train
    from spikebits.models import apply_config, build, set_full_precision
    from spikebits.space import LayerChoice

    evaluator = Evaluator("mnist_cnn", "mnist", data_root=data_dir)
    data = evaluator.data
    x, y = data.train.tensors
    out: dict = {"train_images": len(x)}
    for threads in (2, 1):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        float_model = set_full_precision(build("mnist_cnn"))
        hand = hand_float_epoch(float_model, x, y)
        torch.manual_seed(0)
        quantized = build("mnist_cnn")
        apply_config(quantized, evaluator.space.uniform(LayerChoice(2, 2, 2)))
        calibrate(quantized, data.train)
        start = time.perf_counter()
        train(quantized, data.train, TrainSettings(epochs=1, batch_size=64))
        qat = time.perf_counter() - start
        out[f"threads_{threads}"] = {"float_hand_loop_s": hand, "qat_spikebits_s": qat, "ratio": qat / hand}
        print(f"{threads} thread(s): float epoch (hand loop) {hand:.1f} s, W2/S2/T2 epoch (spikebits) {qat:.1f} s, ratio {qat / hand:.3f}")
    out["two_threads_over_one"] = out["threads_2"]["qat_spikebits_s"] / out["threads_1"]["qat_spikebits_s"]
    print(f"2 threads ÷ 1 thread (QAT epoch): {out['two_threads_over_one']:.3f}")
    return out


def run_search(arguments: list[str], cache: Path) -> tuple[float, dict, dict, list[dict]]:
    """``spikebits search ARGUMENTS`` in a subprocess with ``cache`` as its cache folder and a
    temporary ``--out``: its wall time, run.json, pareto.json and the front's points by bit
    budget (accuracies, S-ACE, config)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [str(Path(sys.executable).with_name("spikebits")), "search", *arguments, "--out", str(run_dir), "--quiet"]
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "SPIKEBITS_CACHE": str(cache)})
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"the search failed: {proc.stderr[-2000:]}")
        run = json.loads((run_dir / "run.json").read_text())
        pareto = json.loads((run_dir / "pareto.json").read_text())
    points = [
        {"bit_budget": p["metrics"]["bit_budget"], "accuracy": p["metrics"]["accuracy"], "test_accuracy": p["metrics"]["test_accuracy"],
         "s_ace": p["metrics"]["s_ace"], "config": p["config"]["layers"]}
        for p in sorted(pareto["points"], key=lambda p: p["metrics"]["bit_budget"])
    ]
    return wall, run, pareto, points


def search(data_dir: Path) -> dict:
    arguments = ["--dataset", "mnist", "--data-dir", str(data_dir)]
    with tempfile.TemporaryDirectory() as cache:
        wall, run, pareto, points = run_search(arguments, Path(cache))
    evaluator = run["evaluator"]
    fp_test = evaluator["full_precision_test_accuracy"]
    out = {
        "command": " ".join(["spikebits", "search", *arguments, "--quiet"]),
        "wall_s": wall,
        "full_precision": {"accuracy": evaluator["full_precision_accuracy"], "test_accuracy": fp_test,
                           "epochs": evaluator.get("pretrain_epochs_trained")},
        "front": points,
        "hypervolume": pareto["hypervolume"],
    }
    print(f"default differentiable search on MNIST: {wall / 60:.1f} min with pretraining ({out['full_precision']['epochs']} epochs), "
          f"full precision {100 * fp_test:.2f}% test")
    for p in points:
        print(f"  bit budget {p['bit_budget']:.3f}: {100 * p['accuracy']:.2f}% validation, {100 * p['test_accuracy']:.2f}% test "
              f"({100 * (fp_test - p['test_accuracy']):.2f} points below full precision)")
    return out


def report(results: dict) -> str:
    lines = ["# spikebits on MNIST (bench/mnist.py)", ""]
    if "pipeline" in results:
        p = results["pipeline"]
        lines += ["## Training epoch: spikebits' quantization-aware loop ÷ a hand-written float loop", "", *machine_line(p),
                  "| torch threads | float epoch, hand loop | W2/S2/T2 epoch, spikebits | ratio |", "|---|---|---|---|"]
        for threads in (1, 2):
            t = p[f"threads_{threads}"]
            lines.append(f"| {threads} | {t['float_hand_loop_s']:.1f} s | {t['qat_spikebits_s']:.1f} s | {t['ratio']:.3f} |")
        lines += ["", f"2 threads ÷ 1 thread (quantization-aware epoch): {p['two_threads_over_one']:.3f}", ""]
    if "search" in results:
        s = results["search"]
        fp = s["full_precision"]
        lines += ["## The default differentiable search", "", *machine_line(s), f"`{s['command']}` (empty pretraining cache)", "",
                  f"Wall time {s['wall_s'] / 60:.1f} min including pretraining ({fp['epochs']} epochs); full precision "
                  f"{100 * fp['accuracy']:.2f}% validation, {100 * fp['test_accuracy']:.2f}% test; hypervolume {s['hypervolume']:.5g}.", "",
                  *front_table(s["front"], fp["test_accuracy"]), ""]
    return "\n".join(lines)


def front_table(front: list[dict], full_precision_test: float) -> list[str]:
    """A front as Markdown table lines: bit budget, validation and test accuracy, the distance
    to full precision and the config."""
    lines = ["| bit budget | validation | test | below full precision (test) | config |", "|---|---|---|---|---|"]
    for q in front:
        config = " ".join(f"{n}:W{c['w_bits']}{'p' if c['scheme'] == 'pow2' else ''}S{c['s_bits']}T{c['timesteps']}" for n, c in q["config"].items())
        lines.append(f"| {q['bit_budget']:.3f} | {100 * q['accuracy']:.2f}% | {100 * q['test_accuracy']:.2f}% | "
                     f"{100 * (full_precision_test - q['test_accuracy']):.2f} | {config} |")
    return lines


def keep_other_sections(only: str | None, json_name: str) -> dict:
    """The results a run with ``--only SECTION`` starts from: the other sections of the
    committed file, each with the machine it was measured on (nothing for a full run)."""
    path = OUT / json_name
    if only is None or not path.exists():
        return {}
    kept = json.loads(path.read_text())
    shared = kept.pop("machine", None)
    for section in kept.values():
        if isinstance(section, dict) and shared is not None:
            section.setdefault("machine", shared)
    kept.pop(only, None)
    return kept


def machine_line(section: dict) -> list[str]:
    """The line saying which machine measured a section."""
    return [f"Machine: {json.dumps(section['machine'])}", ""] if "machine" in section else []


def save(results: dict, text: str, json_name: str, md_name: str) -> None:
    """Write a bench's results (JSON) and report (Markdown) under :data:`OUT`."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / json_name).write_text(json.dumps(results, indent=2) + "\n")
    (OUT / md_name).write_text(text)
    print(f"wrote {OUT / json_name} and {OUT / md_name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", choices=("pipeline", "search"))
    args = parser.parse_args()
    results = keep_other_sections(args.only, "results.json")
    if args.only in (None, "pipeline"):
        results["pipeline"] = {**pipeline(args.data_dir), "machine": machine()}
    if args.only in (None, "search"):
        results["search"] = {**search(args.data_dir), "machine": machine()}
    save(results, report(results), "results.json", "report.md")


if __name__ == "__main__":
    main()
