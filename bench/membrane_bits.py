"""Membrane bits U searched against U fixed at 16, on the real MNIST (issue 30).

Two searches of ``mnist_cnn`` on the 60,000-image MNIST (read in place), the same strategy
(default: the primary one, ``differentiable``, with the targets given after ``--``), seed,
trials and fine-tuning, objectives validation accuracy and ``state_bits``; memory is read as
stored weight bits + neuron-state bits (``size_bits + state_bits``):

* ``searched``: every unpinned layer searches U among ``--membrane-bits`` (default 2,3,4,6,8,12,16);
* ``fixed16``: every unpinned layer at U = 16 (``--membrane-bits 16``), the width Speck, Xylo
  and the energy presets keep.

Read at equal budgets on memory: for each budget B (the fixed-16 front's own memory levels),
the best validation accuracy each arm reaches within B, with its test accuracy; and at equal
accuracy: for each fixed-16 front point, the least memory the searched arm needs to reach at
least its validation accuracy, and the saving. Written to ``bench/results/membrane_bits/``
(``results.json``, ``report.md``; the runs' folders under ``runs/``, not committed).

    .venv/bin/python bench/membrane_bits.py [--data-dir ../shared/data/mnist] [--strategy differentiable] \
        -- --targets 1/1/1,2/2/1,2/2/2,4/4/1,4/4/2
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from mnist import machine  # bench/mnist.py: the machine described the same way

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"
OUT = ROOT / "bench" / "results" / "membrane_bits"
RUNS = ROOT / "runs" / "bench_membrane_bits"


def run_arm(name: str, membrane_bits: str, args: argparse.Namespace) -> dict:
    out = RUNS / name
    command = [
        str(ROOT / ".venv" / "bin" / "spikebits"), "search",
        "--strategy", args.strategy, "--model", "mnist_cnn", "--dataset", "mnist", "--data-dir", str(args.data_dir),
        "--objectives", "accuracy,state_bits", "--epochs", str(args.epochs),
        "--membrane-bits", membrane_bits, "--seed", str(args.seed), "--out", str(out), "--quiet", *args.extra,
    ]
    if args.trials:
        command += ["--trials", str(args.trials)]
    wall = None
    if not args.report_only:
        if out.exists():
            command.append("--restart")
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
    run = json.loads((out / "run.json").read_text())
    points = [trial_point(row) for row in csv.DictReader((out / "trials.csv").open()) if row["state"] == "COMPLETE"]
    return {"command": " ".join(command[1:]), "wall_s": wall, "hypervolume": run.get("hypervolume"), "trials": points, "front": front(points)}


def trial_point(row: dict) -> dict:
    """A finished trial with its memory (weights + neuron state) and a short config."""
    layers = json.loads(row["config"])["layers"]
    return {
        "memory_bits": float(row["size_bits"]) + float(row["state_bits"]),
        "size_bits": float(row["size_bits"]),
        "state_bits": float(row["state_bits"]),
        "accuracy": float(row["accuracy"]),
        "test_accuracy": float(row["test_accuracy"]),
        "config": " ".join(
            f"{layer}:W{c['w_bits']}{'p' if c.get('scheme') == 'pow2' else ''}S{c['s_bits']}T{c['timesteps']}"
            + (f"U{c['u_bits']}" if c.get("u_bits") is not None else "")
            for layer, c in layers.items()
        ),
    }


def front(points: list[dict]) -> list[dict]:
    """The points no other point beats on both validation accuracy and memory, by memory."""
    kept = [
        p for p in points
        if not any(q["accuracy"] >= p["accuracy"] and q["memory_bits"] <= p["memory_bits"] and q is not p
                   and (q["accuracy"] > p["accuracy"] or q["memory_bits"] < p["memory_bits"]) for q in points)
    ]
    return sorted(kept, key=lambda p: p["memory_bits"])


def best_within(front: list[dict], budget: float) -> dict | None:
    inside = [p for p in front if p["memory_bits"] <= budget]
    return max(inside, key=lambda p: (p["accuracy"], -p["memory_bits"])) if inside else None


def least_reaching(front: list[dict], accuracy: float) -> dict | None:
    reaching = [p for p in front if p["accuracy"] >= accuracy]
    return min(reaching, key=lambda p: p["memory_bits"]) if reaching else None


def compare(searched: list[dict], fixed: list[dict]) -> tuple[list[dict], list[dict]]:
    budgets = []
    for point in fixed:
        budget = point["memory_bits"]
        a, b = best_within(searched, budget), best_within(fixed, budget)
        budgets.append({"budget": budget, "searched": a, "fixed16": b})
    equal = []
    for point in fixed:
        match = least_reaching(searched, point["accuracy"])
        equal.append(
            {
                "fixed16": point,
                "searched": match,
                "saving": None if match is None else 1.0 - match["memory_bits"] / point["memory_bits"],
            }
        )
    return budgets, equal


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def report(results: dict) -> str:
    lines = ["# Membrane bits U searched against U fixed at 16 (bench/membrane_bits.py)", ""]
    lines.append(f"Machine: {json.dumps(results['machine'])}")
    lines.append("")
    for arm in ("searched", "fixed16"):
        r = results[arm]
        wall = "" if r["wall_s"] is None else f" — {r['wall_s'] / 60:.1f} min"
        lines.append(f"* `{arm}`: `spikebits {r['command']}`{wall}; its front below is over (validation accuracy, memory) of all its trials")
    lines += ["", "## At equal budgets on memory (size_bits + state_bits)", ""]
    lines.append("| budget (bits) | U searched: validation / test | memory | U = 16: validation / test | memory |")
    lines.append("|---|---|---|---|---|")
    def cell(p: dict | None) -> tuple[str, str]:
        return ("—", "—") if p is None else (f"{pct(p['accuracy'])} / {pct(p['test_accuracy'])}", f"{p['memory_bits']:,.0f}")

    for row in results["budgets"]:
        a, b = cell(row["searched"]), cell(row["fixed16"])
        lines.append(f"| {row['budget']:,.0f} | {a[0]} | {a[1]} | {b[0]} | {b[1]} |")
    lines += ["", "## At equal accuracy: the least memory reaching each U = 16 point's validation accuracy", ""]
    lines.append("| U = 16 point (validation) | its memory | U searched: memory | saving | U searched config |")
    lines.append("|---|---|---|---|---|")
    for row in results["equal_accuracy"]:
        f, s = row["fixed16"], row["searched"]
        memory = "—" if s is None else format(s["memory_bits"], ",.0f")
        saving = "—" if row["saving"] is None else format(100 * row["saving"], ".1f") + "%"
        lines.append(f"| {pct(f['accuracy'])} | {f['memory_bits']:,.0f} | {memory} | {saving} | {'' if s is None else s['config']} |")
    lines += ["", "## The fronts", ""]
    for arm in ("searched", "fixed16"):
        lines += [f"### {arm}", "", "| memory | size | state | validation | test | config |", "|---|---|---|---|---|---|"]
        for p in results[arm]["front"]:
            lines.append(
                f"| {p['memory_bits']:,.0f} | {p['size_bits']:,.0f} | {p['state_bits']:,.0f} | {pct(p['accuracy'])} | {pct(p['test_accuracy'])} | {p['config']} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--strategy", default="differentiable")
    parser.add_argument("--trials", type=int, default=0, help="trials per arm (0: the strategy's default)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--membrane-bits", default="2,3,4,6,8,12,16")
    parser.add_argument("--report-only", action="store_true", help="read the runs already in runs/bench_membrane_bits again")
    parser.add_argument("extra", nargs="*", help="further `spikebits search` flags (after --)")
    args = parser.parse_args(argv)
    results = {"machine": machine(), "settings": {k: v for k, v in vars(args).items() if k not in ("data_dir", "report_only")}}
    if args.report_only and (OUT / "results.json").exists():
        before = json.loads((OUT / "results.json").read_text())
        results["machine"] = before["machine"]
    results["searched"] = run_arm("searched", args.membrane_bits, args)
    results["fixed16"] = run_arm("fixed16", "16", args)
    if args.report_only and (OUT / "results.json").exists():
        for arm in ("searched", "fixed16"):
            results[arm]["wall_s"] = before.get(arm, {}).get("wall_s")
    results["budgets"], results["equal_accuracy"] = compare(results["searched"]["front"], results["fixed16"]["front"])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (OUT / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
