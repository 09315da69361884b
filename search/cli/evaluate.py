"""``spikebits evaluate``: score one config.

Metrics as JSON on stdout; the energy report (and, after fine-tuning, the event-driven
estimate, the NeuroBench counts and the bit-serial simulation) as tables on stderr, and all
of it in ``--report FILE``. ``--save-checkpoint CKPT`` keeps the fine-tuned model for
``spikebits export``. ``--checkpoint CKPT`` scores a trained network as it is (a search's
``network-{trial}.pt``, or a checkpoint of ``--save-checkpoint``) at the config it holds.
"""

from __future__ import annotations

import argparse
from typing import Any
import json
import sys

from spikebits.models import apply_config
from spikebits.search.cli.checkpoint import load_checkpoint, load_into, save_checkpoint
from spikebits.search.cli.common import (
    add_common_arguments,
    check_names,
    epoch_count,
    lane_count,
    load_config,
    make_evaluator,
    progress_factory,
    sample_count,
    set_threads,
    warn_chance_level,
)
from spikebits.space import Config, ConfigError, LayerChoice, atomic_write_text, check_output_file
from spikebits.space.metrics import ACCURACY

DEFAULT_EPOCHS = 2


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="score one config (metrics as JSON)")
    add_common_arguments(e)
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="config JSON file")
    which.add_argument(
        "--uniform", metavar="W/S/T[/U]", type=parse_uniform,
        help="every unpinned layer at this choice, e.g. 4/4/1 (p: power-of-two weights, 4p/4/1; a fourth number: membrane bits U, 4/2/1/8)",
    )
    which.add_argument(
        "--checkpoint", metavar="CKPT",
        help="score this trained network at the config it holds (a search's network-N.pt, or --save-checkpoint's file), not fine-tuned "
             "unless --epochs is given",
    )
    e.add_argument(
        "--include-pinned", action="store_true",
        help="with --uniform: the pinned first layer takes the choice too (the seed paper's U-Quant convention)",
    )
    e.add_argument(
        "--epochs", type=epoch_count, default=None,
        help=f"fine-tuning epochs (default {DEFAULT_EPOCHS}; with --checkpoint 0: the network is scored as it is)",
    )
    e.add_argument(
        "--cost-only", action="store_true",
        help="only the data-free cost metrics; any W, S in 1..16, T >= 1 (training and scoring take T up to 4096)",
    )
    e.add_argument("--save-checkpoint", metavar="CKPT", help="write the fine-tuned model's state_dict here (for `spikebits export`)")
    e.add_argument("--report", metavar="FILE", help="write metrics, energy reports, activity, NeuroBench counts and the simulation as JSON")
    e.add_argument("--lanes", type=lane_count, default=1, help="parallel bit-serial units per layer in the hardware simulation (default 1)")
    e.add_argument(
        "--simulate-samples", type=sample_count, default=512, metavar="N",
        help="test samples the bit-serial simulation and the NeuroBench counts run on (default 512)",
    )
    e.set_defaults(func=run)


def parse_uniform(text: str) -> LayerChoice:
    """``W/S/T`` or ``W/S/T/U`` (U: membrane bits) with an optional ``p`` after W
    (power-of-two weights) → a LayerChoice."""
    parts = text.strip().split("/")
    scheme = "pow2" if parts and parts[0].endswith("p") else "uniform"
    if scheme == "pow2":
        parts[0] = parts[0][:-1]  # one p: "4pp" stays malformed
    try:
        if len(parts) not in (3, 4):
            raise ValueError(text)
        w, s, t, *u = (int(p) for p in parts)
        return LayerChoice(w, s, t, scheme, u[0] if u else None)
    except (ValueError, ConfigError) as err:
        detail = str(err) if isinstance(err, ConfigError) else "write W/S/T or W/S/T/U, for example 4/4/1 or 4/2/1/8"
        raise argparse.ArgumentTypeError(f"--uniform {text!r}: {detail}") from None


def run(args: argparse.Namespace) -> int:
    if args.cost_only and args.save_checkpoint:
        raise ConfigError("--save-checkpoint needs a fine-tuned model; drop --cost-only")
    if args.include_pinned and args.uniform is None:
        raise ConfigError("--include-pinned goes with --uniform W/S/T; a config file names every layer itself")
    check_names(args)
    if args.checkpoint and args.cost_only:
        raise ConfigError("--cost-only needs no network; give --config or --uniform instead of --checkpoint")
    if args.epochs is None:
        args.epochs = 0 if args.checkpoint else DEFAULT_EPOCHS
    config = load_config(args.config) if args.config else None
    state = None
    if args.checkpoint:
        state, config = load_checkpoint(args.checkpoint)
        if config is None:
            raise ConfigError(f"checkpoint {args.checkpoint} holds no config; score it with `spikebits export` or write it with --save-checkpoint")
    for flag, path in (("--report", args.report), ("--save-checkpoint", args.save_checkpoint)):
        if path:
            check_output_file(path, f"{flag} {path}")
    if args.cost_only:
        evaluator = make_evaluator(args, epochs=0, check_memory=False)  # allocates nothing: any T, any size
        config = uniform_config(evaluator, args) if config is None else config
        placement = chip_placement(evaluator, config)
        metrics = evaluator.cost(config, strict=False)
        dense = evaluator.energy(config)
        report = {"metrics": metrics, "energy": dense.to_dict()}
        tables = [f"input shape {','.join(map(str, evaluator.input_shape))} ({args.dataset})", dense.format(), *placement]
    else:
        evaluator, config, metrics, report, tables = measure(args, config, state)
    if args.include_pinned:
        tables.insert(0, "every layer at the uniform choice, the first one included (the seed paper's U-Quant convention)")
    print(json.dumps(metrics, indent=2))
    print("\n\n".join(tables), file=sys.stderr)
    if not args.cost_only:
        warn_chance_level(evaluator, evaluator.describe().get("full_precision_accuracy"), [metrics[ACCURACY.name]])
    if args.report:
        from spikebits.results import to_jsonable

        atomic_write_text(args.report, json.dumps(to_jsonable({"schema": "spikebits.evaluate/1", "config": config.to_dict(), **report}), indent=2) + "\n")
    return 0


def measure(args: argparse.Namespace, config: Config | None, state: Any) -> tuple[Any, Config, dict, dict, list[str]]:
    """Fine-tune ``config`` (or train the checkpoint's network, ``state``) and measure it: the
    metrics, the dense and measured energy, NeuroBench's counts and the bit-serial simulation.
    Returns the evaluator, the config, the metrics, the report and the printed tables."""
    from spikebits.evaluators.activity import activity_rates, neurobench_counts
    from spikebits.evaluators.data import first_samples
    from spikebits.evaluators.hardware import simulate

    set_threads(args.threads)
    evaluator = make_evaluator(args, progress=progress_factory(args.quiet), check_memory=False)
    config = uniform_config(evaluator, args) if config is None else config
    placement = chip_placement(evaluator, config)
    full = evaluator.space.complete(config, strict=False)
    evaluator.check_memory(full)  # before any data is read, any network pretrained or built
    if args.checkpoint:
        model = load_into(apply_config(evaluator.new_model(), full), state, args.checkpoint, args.model).to(evaluator.device)
        if args.epochs:
            evaluator.train(model, epochs=args.epochs, description="fine-tune the checkpoint's network")
    else:
        model = evaluator.finetune(config)  # what evaluator(config) does, keeping the model
    metrics = evaluator.cost(config)
    metrics.update(evaluator.score(model))
    if args.save_checkpoint:
        save_checkpoint(model, args.save_checkpoint, evaluator.space.complete(config, strict=False))
    dense = evaluator.energy(config)
    measured = evaluator.energy(config, rates=activity_rates(evaluator.last_activity))
    images, labels = first_samples(evaluator.data.test, args.simulate_samples)
    if model.bit_serial_unsupported is None:
        hardware = simulate(model, images.to(evaluator.device), energy_model=evaluator.energy_model, lanes=args.lanes,
                            labels=labels.to(evaluator.device))
        hardware_report, hardware_table = hardware.to_dict(), hardware.format()
    else:
        hardware_report = {"skipped": model.bit_serial_unsupported}
        hardware_table = f"bit-serial simulation skipped for {args.model}: {model.bit_serial_unsupported}"
    counts = neurobench_counts(model, evaluator.data.test, device=evaluator.device, max_samples=args.simulate_samples)
    report = {
        "metrics": metrics,
        "energy": dense.to_dict(),
        "energy_measured": measured.to_dict(),
        "activity": {n: a.to_dict() for n, a in evaluator.last_activity.items()},
        "neurobench": counts,
        "hardware": hardware_report,
    }
    tables = [
        dense.format(),
        measured.format(),
        "NeuroBench synaptic operations per sample (integer spikes): "
        + ", ".join(f"{k} {counts[k]:.4g}" for k in ("Effective_ACs", "Effective_MACs", "Dense")),
        hardware_table,
        *placement,
    ]
    return evaluator, config, metrics, report, tables


def chip_placement(evaluator: Any, config: Config) -> list[str]:
    """With ``--chip``: the placement table of ``config`` on the chip (a value the chip does not
    allow, or a layer no core holds, is a one-line error before any work); else nothing."""
    if evaluator.chip is None:
        return []
    from spikebits.evaluators.chips import place

    return [place(evaluator.chip, evaluator.specs, evaluator.space.complete(config, strict=False)).table()]


def uniform_config(evaluator: Any, args: argparse.Namespace) -> Config:
    """The ``--uniform`` config; with ``--include-pinned`` the evaluator's space is unpinned so
    that the first layer may take the choice (bit_budget then averages over every layer)."""
    if args.include_pinned:
        evaluator.space = evaluator.space.unpin()
    return evaluator.space.uniform(args.uniform, include_pinned=args.include_pinned)
