"""``spikebits sensitivity``: per-layer Hessian trace, Ω per bit width, output error and
kurtosis, as a table, ``sensitivity.json`` and ``sensitivity.png``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from spikebits.search.cli.common import (
    add_common_arguments,
    check_names,
    default_out,
    batch_count,
    make_evaluator,
    probe_count,
    progress_factory,
    set_threads,
)
from spikebits.search.checks import check_output_dir
from spikebits.space import HESSIAN_NETWORKS, atomic_write_text, format_table, lock_folder


def add_parser(sub: Any) -> None:
    t = sub.add_parser("sensitivity", help="per-layer Hessian trace, Ω per bit width, output error and kurtosis")
    add_common_arguments(t)
    t.add_argument("--probes", type=probe_count, default=200, help="most Hutchinson probes (stops earlier at a 1e-3 relative change)")
    t.add_argument("--batches", type=batch_count, default=4, help="training batches averaged per probe and used for output errors")
    t.add_argument(
        "--hessian-network",
        choices=HESSIAN_NETWORKS,
        default="full",
        help="network the Hessian traces are taken on: full (the pretrained full-precision one, default) or quantized "
        "(its weights at the space's largest config, over their time steps; Lui & Neftci)",
    )
    t.add_argument("--out", help="output folder for sensitivity.json and sensitivity.png (default runs/sensitivity-DATE-TIME)")
    t.set_defaults(func=run)


def two_bit_error(output_error: dict[str, float]) -> float | None:
    """The output error at W2S2T1 (with U searched: at the widest U measured, W2S2T1U…)."""
    if "W2S2T1" in output_error:
        return output_error["W2S2T1"]
    widths = [int(k[len("W2S2T1U"):]) for k in output_error if k.startswith("W2S2T1U") and k[len("W2S2T1U"):].isdigit()]
    return output_error[f"W2S2T1U{max(widths)}"] if widths else None


def sensitivity_rows(report) -> list[dict]:  # noqa: ANN001 - a SensitivityReport
    """One row per layer for the table, the JSON and the chart of ``spikebits sensitivity``."""
    rows = []
    for name, layer in report.layers.items():
        rows.append(
            {
                "layer": name,
                "n_weights": layer.n_weights,
                "trace": layer.trace,
                "activation_trace": layer.activation_trace,
                "omega_uniform": {k[len("uniform"):]: v for k, v in layer.omega.items() if k.startswith("uniform")},
                "output_error_2bit": two_bit_error(layer.output_error),
                "kurtosis": layer.kurtosis,
            }
        )
    return rows


def format_sensitivity_table(rows: list[dict]) -> str:
    bits = sorted({int(b) for r in rows for b in r["omega_uniform"]})
    head = ["layer", "N_w", "Tr(H_w)", *(f"Ω W{b}" for b in bits), "Tr(H_a)", "out.err W2S2T1", "kurtosis"]
    cells = []
    for r in rows:
        err = r["output_error_2bit"]
        cells.append(
            [r["layer"], str(r["n_weights"]), f"{r['trace']:.4g}", *(f"{r['omega_uniform'].get(str(b), float('nan')):.3g}" for b in bits),
             f"{r['activation_trace']:.4g}", "-" if err is None else f"{err:.4g}", f"{r['kurtosis']:.3f}"]
        )
    return format_table(head, cells)


def run(args: argparse.Namespace) -> int:
    check_names(args)
    set_threads(args.threads)
    progress = progress_factory(args.quiet)
    evaluator = make_evaluator(args, progress=progress, epochs=0, check_memory=False)  # checks every input; does no work yet
    # The Hessian traces run on the full-precision network (T = 1) or at the space's largest config.
    evaluator.check_memory(timesteps=1 if args.hessian_network == "full" else None)
    evaluator.data  # noqa: B018 - read (and so check) the data before anything is written
    out = check_output_dir(args.out or default_out("sensitivity"))
    with lock_folder(out):  # one process per --out
        return measure(args, out, evaluator, progress)


def measure(args: argparse.Namespace, out: Path, evaluator: Any, progress: Any) -> int:
    """The sensitivity report of ``args``, written to the locked folder ``out``."""
    from spikebits.results import plot_sensitivity

    report = evaluator.sensitivity(probes=args.probes, batches=args.batches, progress=progress, network=args.hessian_network)
    rows = sensitivity_rows(report)
    print(
        f"sensitivity of {args.model} on {args.dataset} ({report.probes} Hutchinson probes on the {args.hessian_network} network; "
        "Ω = Tr(H)/N_w·‖Q(W) − W‖²)"
    )
    print(format_sensitivity_table(rows))
    atomic_write_text(out / "sensitivity.json", json.dumps({"schema": "spikebits.sensitivity/1", **report.to_dict(), "rows": rows}, indent=2) + "\n")
    plot_sensitivity(out / "sensitivity.png", rows, title=f"layer sensitivity: {args.model} on {args.dataset}")
    print(f"wrote {out}/sensitivity.json, sensitivity.png")
    return 0
