"""The ``spikebits`` command line: ``search``, ``evaluate``, ``sensitivity``, ``space``, ``export``.

``evaluate --save-checkpoint CKPT`` keeps the fine-tuned model; ``export`` packs it into a
pickle-free ``.sbq`` file whose weight payload is exactly ⌈size_bits/8⌉ bytes.

Errors a user can cause print one line and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from spikebits.space import DEFAULT_OBJECTIVES, BitTargets, Budget, Config, ConfigError, SearchSpace, SpikebitsError, parse_objectives

DEFAULT_TRIALS = 24
DEFAULT_EPOCHS = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist; check the path") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file {path} ({err.strerror})") from None


def _load_space(path: str | None) -> SearchSpace | None:
    return SearchSpace.from_json(_read_text(path, "space")) if path else None


def _load_config(path: str) -> Config:
    return Config.from_json(_read_text(path, "config"))


def _set_threads(threads: int | None) -> None:
    import torch

    n = threads or max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(n)


def _progress_factory(quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    def progress(iterable: Iterable, description: str, total: int) -> Iterable:
        return tqdm(iterable, desc=description, total=total, leave=False, position=1, dynamic_ncols=True)

    return progress


def _evaluator(args: argparse.Namespace, *, progress=None, epochs: int | None = None):
    from spikebits.evaluators import Evaluator

    return Evaluator(
        args.model,
        args.dataset,
        seed=args.seed,
        epochs=epochs if epochs is not None else args.epochs,
        lr=args.lr,
        device=args.device,
        cache_dir=args.cache_dir,
        data_root=args.data_root,
        space=_load_space(args.space),
        progress=progress,
        pretrain_epochs=args.pretrain_epochs,
        energy_model=args.energy_model,
    )


def _check_names(args: argparse.Namespace) -> None:
    """Unknown model / data set / strategy names fail before any work."""
    from spikebits import models
    from spikebits.evaluators import datasets

    if args.model not in models.available():
        from spikebits.space import unknown_name_error

        raise unknown_name_error("model", args.model, models.available())
    datasets.check_dataset(args.dataset)


# --------------------------------------------------------------------------- commands
def cmd_search(args: argparse.Namespace) -> int:
    from spikebits.results import format_front_table
    from spikebits.search import get_strategy, run_search

    objectives = parse_objectives(args.objectives)
    budget = Budget.parse(args.budget)
    strategy_cls = get_strategy(args.strategy)
    _check_names(args)
    n_trials = DEFAULT_TRIALS if args.trials is None else args.trials
    if n_trials < 1:
        raise ConfigError("--trials must be at least 1")
    if args.targets is not None:
        BitTargets.parse_list(args.targets)
    if args.epochs < 0:
        raise ConfigError("--epochs must be 0 or more")
    if args.ray is not None:
        from spikebits.search.ray_search import check_address

        check_address(None if args.ray == "local" else args.ray)
    warm = [_load_config(p) for p in args.warm_start or ()]
    out = args.out or os.path.join("runs", time.strftime("search-%Y%m%d-%H%M%S"))
    from spikebits.search.runner import check_output_dir

    check_output_dir(out)
    _set_threads(args.threads)
    progress = _progress_factory(args.quiet)
    evaluator = _evaluator(args, progress=progress)
    if warm:
        warm = [evaluator.space.complete(c) for c in warm]
    from spikebits.search.differentiable import DifferentiableStrategy

    if args.init not in ("largest", "hessian", "output", "kurtosis") and not issubclass(strategy_cls, DifferentiableStrategy):
        raise ConfigError(f"--init {args.init} applies to differentiable and gumbel; the {args.strategy} strategy takes --init hessian, output or kurtosis")
    if args.init != "largest" and strategy_cls.name in ("ilp", "boost"):
        raise ConfigError(f"the {args.strategy} strategy needs no --init; choose its sensitivity with --metric")
    if strategy_cls.name == "ilp":
        from spikebits.search.ilp import check_limits

        check_limits(evaluator.space, evaluator.specs, budget)  # an unreachable budget fails before any measuring
    if args.probes < 1:
        raise ConfigError("--probes must be at least 1")
    report = None
    if args.init in ("hessian", "output", "kurtosis") or strategy_cls.name in ("ilp", "boost"):
        from spikebits.evaluators.sensitivity import measure_sensitivity

        report = measure_sensitivity(evaluator, probes=args.probes, progress=progress)
    if args.init in ("hessian", "output", "kurtosis") and not issubclass(strategy_cls, DifferentiableStrategy):
        from spikebits.search.warm import warm_start_configs

        warm = [*warm, *warm_start_configs(evaluator, args.init, budget, count=4, report=report, progress=progress)]
    if issubclass(strategy_cls, DifferentiableStrategy):
        options = dict(
            targets=args.targets,
            target_tolerance=args.target_tolerance,
            supernet_epochs=args.supernet_epochs,
            bits_lr=args.bits_lr,
            lambdas=args.lambdas,
            renewal=args.renewal,
            renewal_grid=args.renewal_grid,
            init=args.init,
            sensitivity=report,
            progress=progress,
        )
    elif strategy_cls.name in ("ilp", "boost"):
        options = dict(n_trials=n_trials, metric=args.metric or ("hessian" if strategy_cls.name == "ilp" else "output"),
                       sensitivity=report, progress=progress)
    else:
        options = dict(n_trials=n_trials, storage=args.storage, study_name=args.study, warm_starts=warm)
        if args.ray is not None and args.resume:
            options["fail_orphans"] = False
    strategy = strategy_cls(evaluator.space, evaluator, budget, objectives, seed=args.seed, **options)

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=strategy.remaining(n_trials), desc=f"{args.strategy} trials", position=0, dynamic_ncols=True)

    def on_trial(record) -> None:
        if bar is not None:
            acc = record.metrics.get("accuracy")
            bar.set_postfix_str(f"last {'failed' if acc is None else f'acc {acc:.3f}'}")
            bar.update(1)

    execute = None
    if args.ray is not None:
        from spikebits.search.optuna_base import OptunaStrategy

        if not isinstance(strategy, (OptunaStrategy, DifferentiableStrategy)):
            raise ConfigError(f"--ray runs nsga2, tpe, random, differentiable and gumbel; the {args.strategy} strategy runs locally (drop --ray)")
        if isinstance(strategy, DifferentiableStrategy) and (args.resume or args.early_stop):
            raise ConfigError("--resume and --early-stop apply to nsga2, tpe and random on Ray; drop them for a target sweep")
        if args.resume and not args.storage:
            raise ConfigError("--resume on Ray needs the study's --storage (sqlite:///FILE.db or a journal file) of the first run")
        from spikebits.search.ray_search import run_on_ray, run_targets_on_ray

        def execute(strategy, n, callback):  # noqa: ANN001
            strategy.start()
            try:
                if isinstance(strategy, DifferentiableStrategy):
                    return run_targets_on_ray(
                        strategy, evaluator, address=None if args.ray == "local" else args.ray,
                        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                        max_concurrent=args.max_concurrent, max_failures=args.max_failures,
                        ray_storage=args.ray_storage or os.path.join(out, "ray"),
                    )
                return run_on_ray(
                    strategy, evaluator, n, address=None if args.ray == "local" else args.ray,
                    cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                    max_concurrent=args.max_concurrent, max_failures=args.max_failures,
                    early_stop=args.early_stop, resume=args.resume,
                    ray_storage=args.ray_storage or os.path.join(out, "ray"),
                )
            finally:
                strategy.finish()

    elif any((args.resume, args.early_stop, args.max_failures, args.max_concurrent, args.ray_storage)):
        raise ConfigError("--resume, --early-stop, --max-failures, --max-concurrent and --ray-storage need --ray")
    try:
        result = run_search(
            strategy,
            evaluator,
            budget=budget,
            objectives=objectives,
            n_trials=n_trials,
            seed=args.seed,
            out_dir=out,
            callback=on_trial,
            execute=execute,
        )
    finally:
        if bar is not None:
            bar.close()
    fp = evaluator.describe().get("full_precision_accuracy")
    print(f"{args.strategy} on {args.model}/{args.dataset}: {len(result.records)} trials, "
          f"{sum(r.feasible for r in result.records)} feasible, {len(result.front)} on the Pareto front"
          + (f"; full-precision accuracy {100 * fp:.2f}%" if fp is not None else ""))
    print(f"budget: {budget}   objectives: {', '.join(objectives)}   hypervolume: {result.hypervolume:.6g}")
    print(format_front_table(result.front, objectives))
    written = ["pareto.json", "trials.csv", "pareto.png", "run.json", *(p.name for p in result.artifacts)]
    print(f"wrote {result.out_dir}/{', '.join(written)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Metrics as JSON on stdout; the energy report (and, after fine-tuning, the event-driven
    estimate, the NeuroBench counts and the bit-serial simulation) as tables on stderr, and
    all of it in ``--report FILE``."""
    if args.cost_only and args.save_checkpoint:
        raise ConfigError("--save-checkpoint needs a fine-tuned model; drop --cost-only")
    if args.lanes < 1:
        raise ConfigError(f"--lanes {args.lanes} must be at least 1")
    _check_names(args)
    config = _load_config(args.config)
    if args.report:
        from spikebits.search.runner import check_output_dir

        check_output_dir(Path(args.report).parent)
    if args.cost_only:
        evaluator = _evaluator(args, epochs=0)
        metrics = evaluator.cost(config, strict=False)
        dense = evaluator.energy(config)
        report = {"metrics": metrics, "energy": dense.to_dict()}
        tables = [dense.format()]
    else:
        from spikebits.evaluators.activity import activity_rates, neurobench_counts
        from spikebits.evaluators.hardware import simulate

        _set_threads(args.threads)
        evaluator = _evaluator(args, progress=_progress_factory(args.quiet))
        evaluator.space.complete(config, strict=False)
        model = evaluator.finetune(config)  # what evaluator(config) does, keeping the model
        metrics = evaluator.cost(config)
        metrics.update(evaluator.score(model))
        if args.save_checkpoint:
            _save_checkpoint(model, args.save_checkpoint, evaluator.space.complete(config, strict=False))
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
        from spikebits.results import atomic_write_text
        from spikebits.results.records import to_jsonable

        atomic_write_text(args.report, json.dumps(to_jsonable({"schema": "spikebits.evaluate/1", "config": config.to_dict(), **report}), indent=2) + "\n")
    return 0


CHECKPOINT_SCHEMA = "spikebits.checkpoint/1"


def _save_checkpoint(model, path: str, config: Config) -> None:
    """``{"schema", "config" (JSON text), "state_dict" (CPU tensors)}``, written with
    torch.save atomically; the config travels with the weights, so ``export`` cannot pack
    them at other bit widths than they were fine-tuned at."""
    import io

    import torch

    from spikebits.results import atomic_write_bytes

    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"schema": CHECKPOINT_SCHEMA, "config": config.to_json(), "state_dict": state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path: str) -> tuple[dict, Config | None]:
    """(state_dict, config) from ``evaluate --save-checkpoint``, or (state_dict, None) from a
    plain state_dict file; loaded with ``weights_only=True`` (no pickled code runs)."""
    import torch

    hint = "write one with `spikebits evaluate --config F --save-checkpoint CKPT`"
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint file {path} does not exist; {hint}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises many kinds for a damaged file)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot read checkpoint {path} ({reason[:120]}); {hint}") from None
    config = None
    if isinstance(data, dict) and data.get("schema") == CHECKPOINT_SCHEMA:
        config = Config.from_json(data.get("config", ""))
        data = data.get("state_dict")
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"{path} is not a model state_dict; {hint}")
    return data, config


def cmd_export(args: argparse.Namespace) -> int:
    from spikebits import models
    from spikebits.evaluators import datasets
    from spikebits.evaluators.cost import size_bits

    _check_names(args)
    info = datasets.info(args.dataset)
    model = models.build(args.model, num_classes=info.num_classes, in_channels=info.input_shape[0], image_size=info.input_shape[-1])
    space = _load_space(args.space) or models.default_space(model)
    state, saved = _load_checkpoint(args.checkpoint)
    if args.config is None and saved is None:
        raise ConfigError(f"checkpoint {args.checkpoint} holds no config; give the one it was fine-tuned with (--config FILE)")
    config = space.complete(_load_config(args.config), strict=False) if args.config else space.complete(saved, strict=False)
    if saved is not None and space.complete(saved, strict=False) != config:
        raise ConfigError(
            f"--config differs from the config checkpoint {args.checkpoint} was fine-tuned with ({saved.short()}); drop --config"
        )
    models.apply_config(model, config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err).splitlines()[0])
        raise ConfigError(
            f"checkpoint {args.checkpoint} does not fit {args.model} with this config ({first[:160]}); "
            "export with the --model and --config it was written with"
        ) from None
    expected = size_bits(models.layer_specs(model, info.input_shape), config)
    summary = models.save_sbq(model, args.out)
    if summary["payload_bits"] != expected:  # pragma: no cover  (a packing bug, not a user error)
        raise RuntimeError(f"payload holds {summary['payload_bits']} bits but size_bits is {expected}")
    print(f"wrote {args.out}: {summary['file_bytes']} bytes (header {summary['header_bytes']} + 12, "
          f"payload {summary['payload_bytes']} = ceil(size_bits {expected} / 8); payload bits equal size_bits)")
    return 0


def sensitivity_rows(report) -> list[dict]:
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
                "output_error_2bit": layer.output_error.get("W2S2T1"),
                "kurtosis": layer.kurtosis,
            }
        )
    return rows


def format_sensitivity_table(rows: list[dict]) -> str:
    bits = sorted({int(b) for r in rows for b in r["omega_uniform"]})
    head = ["layer", "N_w", "Tr(H_w)", *(f"Ω W{b}" for b in bits), "Tr(H_a)", "out.err W2S2T1", "kurtosis"]
    lines = []
    for r in rows:
        err = r["output_error_2bit"]
        lines.append(
            [r["layer"], str(r["n_weights"]), f"{r['trace']:.4g}", *(f"{r['omega_uniform'].get(str(b), float('nan')):.3g}" for b in bits),
             f"{r['activation_trace']:.4g}", "-" if err is None else f"{err:.4g}", f"{r['kurtosis']:.3f}"]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from spikebits.evaluators.sensitivity import measure_sensitivity
    from spikebits.results import atomic_write_text, plot_sensitivity
    from spikebits.search.runner import check_output_dir

    _check_names(args)
    if args.probes < 1 or args.batches < 1:
        raise ConfigError("--probes and --batches must be at least 1")
    out = check_output_dir(args.out or os.path.join("runs", time.strftime("sensitivity-%Y%m%d-%H%M%S")))
    _set_threads(args.threads)
    progress = _progress_factory(args.quiet)
    evaluator = _evaluator(args, progress=progress, epochs=0)
    report = measure_sensitivity(evaluator, probes=args.probes, batches=args.batches, progress=progress)
    rows = sensitivity_rows(report)
    print(f"sensitivity of {args.model} on {args.dataset} ({report.probes} Hutchinson probes; Ω = Tr(H)/N_w·‖Q(W) − W‖²)")
    print(format_sensitivity_table(rows))
    atomic_write_text(out / "sensitivity.json", json.dumps({"schema": "spikebits.sensitivity/1", **report.to_dict(), "rows": rows}, indent=2) + "\n")
    plot_sensitivity(out / "sensitivity.png", rows, title=f"layer sensitivity: {args.model} on {args.dataset}")
    print(f"wrote {out}/sensitivity.json, sensitivity.png")
    return 0


def cmd_space(args: argparse.Namespace) -> int:
    from spikebits import models
    from spikebits.evaluators import datasets

    _check_names(args)
    info = datasets.info(args.dataset)
    model = models.build(args.model, num_classes=info.num_classes, in_channels=info.input_shape[0], image_size=info.input_shape[-1])
    text = models.default_space(model, pin_first=not args.unpin_first).to_json()
    if args.out:
        from spikebits.results import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    else:
        print(text)
    return 0


# --------------------------------------------------------------------------- parser
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="digits_cnn", help="architecture (digits_cnn, resnet20)")
    p.add_argument("--dataset", default="digits", help="data set (digits)")
    p.add_argument("--space", help="search space JSON (from `spikebits space`), edited per layer")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split, training and sampler")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate (Adam)")
    p.add_argument("--pretrain-epochs", type=int, default=30, help="full-precision pretraining epochs (cached)")
    p.add_argument("--cache-dir", help="pretraining cache (default $SPIKEBITS_CACHE or ~/.cache/spikebits)")
    p.add_argument("--data-root", help="folder holding data set files on disk")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the machine's cores, at most 8)")
    p.add_argument(
        "--energy-model",
        default="horowitz45nm",
        metavar="PRESET|FILE",
        help="energy_pj estimate: horowitz45nm (default), bitserial45nm, loihi, or a TOML/JSON file of constants",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spikebits", description="Search per-layer bit widths and time steps of spiking neural networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    s = sub.add_parser("search", help="search the Pareto front of accuracy against cost")
    _common(s)
    s.add_argument(
        "--strategy", default="differentiable", help="search strategy: differentiable (default), gumbel, nsga2, tpe, random, ilp, boost"
    )
    s.add_argument(
        "--trials", type=int, help=f"finished trials to reach (default {DEFAULT_TRIALS}; differentiable and gumbel run one per target)"
    )
    s.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="fine-tuning epochs per trial")
    s.add_argument("--budget", action="append", metavar="METRIC<=X", help="constraint, e.g. 'bit_budget<=2.5' (repeatable)")
    s.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES), help="comma-separated metrics to optimise")
    s.add_argument("--storage", help="Optuna storage: sqlite:///FILE.db or a journal file path (resumable)")
    s.add_argument("--study", help="study name inside --storage (resume by reusing it)")
    s.add_argument("--warm-start", action="append", metavar="CONFIG.json", help="config evaluated first (repeatable)")
    s.add_argument("--out", help="output folder (default runs/search-DATE-TIME)")
    r = s.add_argument_group("Ray Tune (nsga2, tpe, random)")
    r.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="run the trials with Ray Tune: in-process, or on the cluster at HOST:PORT")
    r.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per Ray trial (also its torch threads; default 1)")
    r.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per Ray trial (default 0)")
    r.add_argument("--max-concurrent", type=int, help="most trials at once (default: as many as the cluster fits)")
    r.add_argument("--max-failures", type=int, default=0, help="retries of a trial that raises before it counts as failed")
    r.add_argument("--early-stop", action="store_true", help="ASHA on the accuracy after each fine-tuning epoch")
    r.add_argument("--resume", action="store_true", help="continue an interrupted Ray search (same --out or --ray-storage, same --storage)")
    r.add_argument("--ray-storage", help="Ray experiment folder, shared by every node of a cluster (default OUT/ray)")
    d = s.add_argument_group("differentiable and gumbel strategies")
    d.add_argument(
        "--targets",
        metavar="W/S/T,...",
        help="targets of the budget loss, one supernet run each (default: split from a bit_budget budget, else 1/1/1,2/2/1,4/4/1)",
    )
    d.add_argument("--target-tolerance", type=float, default=0.25, help="bits a final average may miss its target by (default 0.25)")
    d.add_argument("--supernet-epochs", type=int, default=10, help="supernet training epochs per target (default 10)")
    d.add_argument("--bits-lr", type=float, default=0.05, help="learning rate of the bit parameters B̂, T̂, θ (default 0.05)")
    d.add_argument("--lambdas", default="0.04/0.04/0.01", metavar="LW/LS/LT", help="budget-loss coefficients λ_w/λ_s/λ_T (seed paper)")
    d.add_argument(
        "--renewal", default="spikes", choices=("none", "spikes", "weights", "both"), help="step-size renewal on bit changes (default spikes)"
    )
    d.add_argument("--renewal-grid", type=int, default=50, metavar="K", help="clipping ranges tried by a renewal (default 50)")
    d.add_argument(
        "--init",
        default="largest",
        metavar="INIT",
        help="start: hessian, output or kurtosis (sensitivity-guided; also for nsga2, tpe, random as first trials), "
        "or W/S/T for every unpinned layer of the supernet (default: its largest options)",
    )
    g = s.add_argument_group("sensitivity-guided strategies (ilp, boost, --init)")
    g.add_argument("--metric", choices=("hessian", "output", "kurtosis"), help="ilp: hessian (default) or output; boost: output (default), kurtosis or hessian")
    g.add_argument("--probes", type=int, default=200, help="most Hutchinson probes of the Hessian traces (default 200)")
    s.set_defaults(func=cmd_search)

    e = sub.add_parser("evaluate", help="score one config (metrics as JSON)")
    _common(e)
    e.add_argument("--config", required=True, help="config JSON file")
    e.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="fine-tuning epochs")
    e.add_argument("--cost-only", action="store_true", help="only the data-free cost metrics; any W, S in 1..16, T >= 1")
    e.add_argument("--save-checkpoint", metavar="CKPT", help="write the fine-tuned model's state_dict here (for `spikebits export`)")
    e.add_argument("--report", metavar="FILE", help="write metrics, energy reports, activity, NeuroBench counts and the simulation as JSON")
    e.add_argument("--lanes", type=int, default=1, help="parallel bit-serial units per layer in the hardware simulation (default 1)")
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("sensitivity", help="per-layer Hessian trace, Ω per bit width, output error and kurtosis")
    _common(t)
    t.add_argument("--probes", type=int, default=200, help="most Hutchinson probes (stops earlier at a 1e-3 relative change)")
    t.add_argument("--batches", type=int, default=4, help="training batches averaged per probe and used for output errors")
    t.add_argument("--out", help="output folder for sensitivity.json and sensitivity.png (default runs/sensitivity-DATE-TIME)")
    t.set_defaults(func=cmd_sensitivity)

    p = sub.add_parser("space", help="print a model's default search space as JSON")
    p.add_argument("--model", default="digits_cnn")
    p.add_argument("--dataset", default="digits", help="data set whose input shape the model takes")
    p.add_argument("--unpin-first", action="store_true", help="let the search choose the first layer too")
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(func=cmd_space)

    x = sub.add_parser("export", help="pack a fine-tuned checkpoint into a pickle-free .sbq model file")
    x.add_argument("--model", default="digits_cnn", help="architecture (digits_cnn, resnet20)")
    x.add_argument("--dataset", default="digits", help="data set whose input shape the model takes")
    x.add_argument("--space", help="search space JSON the config was evaluated in (default: the model's default space)")
    x.add_argument("--config", help="config JSON file (default: the one stored in the checkpoint by `evaluate --save-checkpoint`)")
    x.add_argument("--checkpoint", required=True, help="state_dict from `spikebits evaluate --save-checkpoint`")
    x.add_argument("--out", required=True, help="the .sbq file to write (replaced atomically)")
    x.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["search"]  # the embedded default: digits_cnn on digits
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpikebitsError as err:
        print(f"spikebits: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikebits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
