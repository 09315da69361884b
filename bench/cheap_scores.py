"""How well do cheap scores rank configs on MNIST? And what does a one-shot search cost?

Two measurements on the real MNIST (read in place), written to
``bench/results/mnist/cheap_scores.json`` and ``cheap_scores.md`` with the machine described:

1. ``rank``: ``--configs`` configs (default 20) drawn uniformly from mnist_cnn's default space
   (each decision independently, seed 1234, the first layer pinned as always) are scored
   several ways, each timed:

   * ``finetune`` — the reference: the pretrained network fine-tuned ``--epochs`` epochs at
     the config on the whole training split (the search's own score);
   * ``one-shot N`` — the shared weights of a one-shot supernet trained N epochs
     (``--scoring one-shot --one-shot-epochs N``; one arm per ``--one-shot-epochs`` value, the
     first being the default length), BatchNorm recomputed per config (``evaluators.oneshot``);
   * ``repeat`` — the reference again with another fine-tuning seed (1: another shuffling of
     the batches; the same pretrained network and splits): the reference's own repeatability,
     about the most any cheap score's τ can reach;
   * ``fraction`` — multi-fidelity's first rung: the same pretrained network fine-tuned one
     epoch on a seeded 10% of the training split;
   * ``no-training`` — the pretrained network set to the config with calibrated step sizes
     and nothing trained (post-training quantization), the floor a cheap score must beat.

   Kendall's τ (``scipy.stats.kendalltau``, τ-b) of each cheap score against the reference,
   and its seconds per config, the supernet's training included once.
2. ``nsga2``: ``spikebits search --dataset mnist --strategy nsga2 --trials 100 --scoring
   one-shot --objectives accuracy,bit_budget`` in a subprocess (the one-shot front fine-tuned
   the default 2 epochs), the pretraining checkpoint reused (as in a second search on the same
   data), the one-shot supernet trained inside the run: wall time (target ≤ 15 minutes) and
   the fine-tuned front.

Run with nothing else on the machine:

    .venv/bin/python bench/cheap_scores.py [--data-dir ../shared/data/mnist] [--only rank|nsga2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from scipy.stats import kendalltau
from torch.utils.data import Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist import DEFAULT_DATA, front_table, machine, run_search, save  # noqa: E402


def rank(data_dir: Path, configs: int, epochs: int, cache: Path, one_shot_epochs: list[int]) -> dict:
    from spikebits.evaluators import Evaluator, OneShotEvaluator, draw_config
    from spikebits.evaluators.training import calibrate, train
    from spikebits.models import apply_config

    common = {"data_root": data_dir, "cache_dir": cache}
    reference = Evaluator("mnist_cnn", "mnist", epochs=epochs, **common)
    repeat = Evaluator("mnist_cnn", "mnist", epochs=epochs, **common)
    repeat.finetune_settings = dataclasses.replace(repeat.finetune_settings, seed=1)
    for ev in (reference, repeat):
        ev.pretrained()
    one_shots, supernet_s = {}, {}
    for n in [None, *one_shot_epochs]:
        ev = OneShotEvaluator("mnist_cnn", "mnist", epochs=epochs, one_shot_epochs=n, **common)
        name = f"one-shot {ev.supernet_epochs()}"
        if name in one_shots:
            continue
        start = time.perf_counter()
        ev.prepare()
        supernet_s[name] = time.perf_counter() - start
        one_shots[name] = ev
    drawn = [draw_config(reference.space, 1234, 0, i) for i in range(configs)]

    def no_training(config):  # noqa: ANN001, ANN202
        model = reference.full_precision_model()
        apply_config(model, reference.space.complete(config, strict=False))
        calibrate(model, reference.data.train)
        return {"accuracy": reference.validation_accuracy(model)}

    train_split = reference.data.train
    keep = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(0))[: math.ceil(0.1 * len(train_split))]
    tenth = Subset(train_split, keep.sort().values.tolist())

    def fraction(config):  # noqa: ANN001, ANN202
        model = reference.full_precision_model()
        apply_config(model, reference.space.complete(config, strict=False))
        calibrate(model, train_split)
        train(model, tenth, dataclasses.replace(reference.finetune_settings, epochs=1), device=reference.device)
        return {"accuracy": reference.validation_accuracy(model)}

    scorers = {"finetune": reference, "repeat": repeat, **one_shots, "fraction": fraction, "no-training": no_training}
    rows = []
    seconds = {name: 0.0 for name in scorers}
    for i, config in enumerate(drawn):
        row = {"config": config.short(), "bit_budget": reference.cost(config)["bit_budget"]}
        for name, score in scorers.items():
            t = time.perf_counter()
            row[name] = float(score(config)["accuracy"])
            seconds[name] += time.perf_counter() - t
        rows.append(row)
        print(f"{i + 1:2d}/{configs} {row['config']}: " + ", ".join(f"{n} {100 * row[n]:.2f}%" for n in scorers), flush=True)
    for name, s in supernet_s.items():
        seconds[name] += s
    out = {"configs": configs, "reference_epochs": epochs, "supernet_s": supernet_s, "rows": rows, "scores": {}}
    for name in scorers:
        tau = kendalltau([r["finetune"] for r in rows], [r[name] for r in rows])
        out["scores"][name] = {"kendall_tau": float(tau.statistic), "p_value": float(tau.pvalue), "s_per_config": seconds[name] / configs}
        print(f"{name}: Kendall τ {tau.statistic:.3f} (p {tau.pvalue:.2g}), {seconds[name] / configs:.1f} s per config")
    return out


def nsga2(data_dir: Path, cache: Path, trials: int) -> dict:
    arguments = ["--dataset", "mnist", "--data-dir", str(data_dir), "--strategy", "nsga2", "--trials", str(trials),
                 "--scoring", "one-shot", "--objectives", "accuracy,bit_budget"]
    with tempfile.TemporaryDirectory() as fresh:
        # The pretraining checkpoint is reused (a second search on the same data); the one-shot
        # supernet is trained inside the timed run.
        for checkpoint in cache.glob("*.pt"):
            if "oneshot" not in checkpoint.name and not checkpoint.name.endswith(".partial.pt"):
                shutil.copy(checkpoint, Path(fresh) / checkpoint.name)
        wall, run, pareto, points = run_search(arguments, Path(fresh))
    print(f"nsga2, {trials} configs scored one-shot, front fine-tuned: {wall / 60:.1f} min; {len(points)} points")
    return {"command": " ".join(["spikebits", "search", *arguments, "--quiet"]), "wall_s": wall, "trials": run["trials"],
            "full_precision_test_accuracy": run["evaluator"]["full_precision_test_accuracy"], "front": points,
            "hypervolume": pareto["hypervolume"]}


def report(results: dict) -> str:
    lines = ["# Cheap scores on MNIST (bench/cheap_scores.py)", "", f"Machine: {json.dumps(results['machine'])}", ""]
    if "rank" in results:
        r = results["rank"]
        lines += [f"## Rank agreement with the fine-tune ({r['configs']} configs drawn uniformly, reference: "
                  f"{r['reference_epochs']} fine-tuning epoch(s) on the whole training split)", "",
                  "One-shot supernets (`one-shot N`: N epochs; the first is `--scoring one-shot`'s default length): "
                  + ", ".join(f"{name}: {s:.0f} s" for name, s in r["supernet_s"].items()) + " (counted in their seconds per config).", "",
                  "| score | Kendall τ | p | τ against the mean of finetune and repeat | seconds per config |", "|---|---|---|---|---|"]
        mean = [(row["finetune"] + row["repeat"]) / 2 for row in r["rows"]] if "repeat" in r["scores"] else None
        for name, s in r["scores"].items():
            against_mean = f"{kendalltau(mean, [row[name] for row in r['rows']]).statistic:.3f}" if mean else "—"
            lines.append(f"| {name} | {s['kendall_tau']:.3f} | {s['p_value']:.2g} | {against_mean} | {s['s_per_config']:.1f} |")
        lines += ["", "| config | bit budget | " + " | ".join(r["scores"]) + " |", "|---|---|" + "---|" * len(r["scores"])]
        for row in r["rows"]:
            lines.append(f"| {row['config']} | {row['bit_budget']:.3f} | " + " | ".join(f"{100 * row[n]:.2f}%" for n in r["scores"]) + " |")
        lines.append("")
    if "nsga2" in results:
        n = results["nsga2"]
        lines += ["## NSGA-II over 100 configs, scored one-shot, front fine-tuned", "", f"`{n['command']}` (pretraining checkpoint reused, one-shot supernet trained in the run)", "",
                  f"Wall time {n['wall_s'] / 60:.1f} min; trials {n['trials']}; hypervolume {n['hypervolume']:.5g}; full precision "
                  f"{100 * n['full_precision_test_accuracy']:.2f}% test.", "",
                  *front_table(n["front"], n["full_precision_test_accuracy"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", choices=("rank", "nsga2"))
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2, help="the reference's fine-tuning epochs (the search's default)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--one-shot-epochs", type=int, nargs="*", default=[4], help="one-shot arms besides the default length")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "spikebits-bench-cache")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results: dict = {"machine": machine()}
    if args.only in (None, "rank"):
        results["rank"] = rank(args.data_dir, args.configs, args.epochs, args.cache, args.one_shot_epochs)
    if args.only in (None, "nsga2"):
        results["nsga2"] = nsga2(args.data_dir, args.cache, args.trials)
    name = "cheap_scores" if args.only is None else f"cheap_scores_{args.only}"
    save(results, report(results), f"{name}.json", f"{name}.md")


if __name__ == "__main__":
    main()
