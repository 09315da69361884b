"""``spikebits evaluate``: score one config.

Metrics as JSON on stdout; the energy report (and, after fine-tuning, the event-driven
estimate, the NeuroBench counts and the bit-serial simulation) as tables on stderr, and all
of it in ``--report FILE``. ``--save-checkpoint CKPT`` keeps the fine-tuned model for
``spikebits export``.
"""

from __future__ import annotations

import argparse
from typing import Any
import json
import sys
from pathlib import Path

from spikebits.search.cli.checkpoint import save_checkpoint
from spikebits.search.cli.common import (
    add_common_arguments,
    check_names,
    load_config,
    make_evaluator,
    progress_factory,
    set_threads,
)
from spikebits.search.runner import check_output_dir
from spikebits.space import ConfigError, atomic_write_text

DEFAULT_EPOCHS = 2


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="score one config (metrics as JSON)")
    add_common_arguments(e)
    e.add_argument("--config", required=True, help="config JSON file")
    e.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="fine-tuning epochs")
    e.add_argument("--cost-only", action="store_true", help="only the data-free cost metrics; any W, S in 1..16, T >= 1")
    e.add_argument("--save-checkpoint", metavar="CKPT", help="write the fine-tuned model's state_dict here (for `spikebits export`)")
    e.add_argument("--report", metavar="FILE", help="write metrics, energy reports, activity, NeuroBench counts and the simulation as JSON")
    e.add_argument("--lanes", type=int, default=1, help="parallel bit-serial units per layer in the hardware simulation (default 1)")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.cost_only and args.save_checkpoint:
        raise ConfigError("--save-checkpoint needs a fine-tuned model; drop --cost-only")
    if args.lanes < 1:
        raise ConfigError(f"--lanes {args.lanes} must be at least 1")
    check_names(args)
    config = load_config(args.config)
    if args.report:
        check_output_dir(Path(args.report).parent)
    if args.cost_only:
        evaluator = make_evaluator(args, epochs=0)
        metrics = evaluator.cost(config, strict=False)
        dense = evaluator.energy(config)
        report = {"metrics": metrics, "energy": dense.to_dict()}
        tables = [dense.format()]
    else:
        from spikebits.evaluators.activity import activity_rates, neurobench_counts
        from spikebits.evaluators.hardware import simulate

        set_threads(args.threads)
        evaluator = make_evaluator(args, progress=progress_factory(args.quiet))
        evaluator.space.complete(config, strict=False)
        model = evaluator.finetune(config)  # what evaluator(config) does, keeping the model
        metrics = evaluator.cost(config)
        metrics.update(evaluator.score(model))
        if args.save_checkpoint:
            save_checkpoint(model, args.save_checkpoint, evaluator.space.complete(config, strict=False))
        dense = evaluator.energy(config)
        measured = evaluator.energy(config, rates=activity_rates(evaluator.last_activity))
        images, labels = evaluator.data.test.tensors
        hardware = simulate(model, images.to(evaluator.device), energy_model=evaluator.energy_model, lanes=args.lanes,
                            labels=labels.to(evaluator.device))
        counts = neurobench_counts(model, evaluator.data.test, device=evaluator.device)
        report = {
            "metrics": metrics,
            "energy": dense.to_dict(),
            "energy_measured": measured.to_dict(),
            "activity": {n: a.to_dict() for n, a in evaluator.last_activity.items()},
            "neurobench": counts,
            "hardware": hardware.to_dict(),
        }
        tables = [
            dense.format(),
            measured.format(),
            "NeuroBench synaptic operations per sample (integer spikes): "
            + ", ".join(f"{k} {counts[k]:.4g}" for k in ("Effective_ACs", "Effective_MACs", "Dense")),
            hardware.format(),
        ]
    print(json.dumps(metrics, indent=2))
    print("\n\n".join(tables), file=sys.stderr)
    if args.report:
        from spikebits.results import to_jsonable

        atomic_write_text(args.report, json.dumps(to_jsonable({"schema": "spikebits.evaluate/1", "config": config.to_dict(), **report}), indent=2) + "\n")
    return 0
