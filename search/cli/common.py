"""What every subcommand shares: one-line argparse errors, the common flags, file reading,
threads, progress bars and the evaluator."""

from __future__ import annotations

import argparse
import sys
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from spikebits.evaluators.resources import MAX_EPOCHS, MAX_WORKERS
from spikebits.search.compare import MAX_SEEDS as COMPARE_MAX_SEEDS
from spikebits.space import Budget, Config, ConfigError, Constraint, SearchSpace, SpikebitsError, parse_json, read_input_text, short_repr, unknown_name_error

#: Largest config or space file read (a real one is a few kB).
MAX_JSON_BYTES = 16 << 20


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2; a ``--model`` left out becomes the
    ``--dataset``'s default architecture (``mnist_cnn`` for the MNIST family, else
    ``digits_cnn``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's signature
        parsed, extras = super().parse_known_args(args, namespace)
        if getattr(parsed, "model", "") is None and getattr(parsed, "dataset", None) is not None:
            from spikebits.evaluators import datasets

            known = parsed.dataset in datasets.available()
            parsed.model = datasets.info(parsed.dataset).model if known else "digits_cnn"  # an unknown one is refused later
        return parsed, extras


# ---------------------------------------------------------------------------- option types
#: Largest seed: numpy's and torch's generators take seeds below 2³².
MAX_SEED = 2**32 - 1


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _show(x: float) -> str:
    """A bound in a message: ``100000``, ``0.5``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def bounded(
    kind: type, low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False, what: str = ""
) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind`` (int or float; NaN and infinities refused) within
    [``low``, ``high``] (``low_open``/``high_open``: the bound itself excluded); the message
    says the rule broken: ``what`` when given, else the side passed ("at least 1", "0 or
    more", "more than 0"; "at most 256", "below 1")."""
    if low is None:
        low_rule = "finite"
    elif low_open:
        low_rule = f"more than {_show(low)}"
    else:
        low_rule = "0 or more" if low == 0 else f"at least {_show(low)}"
    high_rule = "" if high is None else f"below {_show(high)}" if high_open else f"at most {_show(high)}"

    def parse(text: str) -> Any:
        value = _number(text, kind)
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} must be {what or low_rule}")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"{text} must be {what or high_rule}")
        return value

    parse.__name__ = f"{kind.__name__}"  # argparse names the type in "invalid int value" messages
    return parse


def bounded_int(low: int, high: int, what: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``; the message names the
    bound broken ("0 must be at least 1", "100000 must be at most 256") or says ``what``."""
    return bounded(int, low, high, what=what)


positive_int = bounded(int, 1)
nonnegative_int = bounded(int, 0)
positive_float = bounded(float, 0, low_open=True)
nonnegative_float = bounded(float, 0)
seed_int = bounded(int, 0, MAX_SEED, what=f"a whole number from 0 to {MAX_SEED}")
fraction_open = bounded(float, 0, 1, low_open=True, high_open=True, what="above 0 and below 1")

# Counts a user gives that drive a loop, processes or memory: each bounded far above any real
# run, so that the absurd (a typo, an extra zero) is one line instead of a fork storm or a run
# that never ends. Memory itself is estimated from the network (evaluators.resources).
#: Most torch CPU threads (--threads).
MAX_THREADS = 1024
#: Most finished trials of a search (--trials) or evaluations of a comparison run (--evaluations).
MAX_TRIALS = 100_000
#: Most seeds of a comparison (--seeds; search.compare.MAX_SEEDS): every strategy runs once per seed.
MAX_SEEDS = COMPARE_MAX_SEEDS
#: Most samples of the bit-serial simulation and NeuroBench counts (--simulate-samples).
MAX_SAMPLES = 1_000_000
#: Most parallel bit-serial units per layer (--lanes).
MAX_LANES = 65536
#: Most Hutchinson probes (--probes; each a double backward pass).
MAX_PROBES = 100_000
#: Most batches a measurement reads (--batches, --bn-batches).
MAX_BATCHES = 100_000
#: Most CPUs or GPUs one Ray trial asks for (--cpus-per-trial, --gpus-per-trial).
MAX_TRIAL_DEVICES = 1024
#: Most concurrent Ray trials (--max-concurrent) and retries of one (--max-failures).
MAX_CONCURRENT = 10_000

worker_count = bounded_int(0, MAX_WORKERS)
epoch_count = bounded_int(0, MAX_EPOCHS)
positive_epoch_count = bounded_int(1, MAX_EPOCHS)
thread_count = bounded_int(1, MAX_THREADS)
trial_count = bounded_int(1, MAX_TRIALS)
seed_count = bounded_int(1, MAX_SEEDS)
sample_count = bounded_int(1, MAX_SAMPLES)
lane_count = bounded_int(1, MAX_LANES)
probe_count = bounded_int(1, MAX_PROBES)
batch_count = bounded_int(1, MAX_BATCHES)
concurrent_count = bounded_int(1, MAX_CONCURRENT)
retry_count = bounded_int(0, MAX_CONCURRENT)
trial_devices = bounded(float, 0, MAX_TRIAL_DEVICES, low_open=True)
nonnegative_trial_devices = bounded(float, 0, MAX_TRIAL_DEVICES)


def pretrain_epochs(text: str) -> int | None:
    """``--pretrain-epochs``: ``auto`` (None: the pretraining rule) or a whole number ≥ 1."""
    if text.strip().lower() == "auto":
        return None
    try:
        return positive_epoch_count(text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (or auto)") from None


pretrain_epochs.__name__ = "int"


def read_text(path: str, what: str) -> str:
    """The UTF-8 text of the regular file ``path`` (a one-line :class:`ConfigError` otherwise)."""
    return read_input_text(path, f"{what} file", hint="check the path", limit=MAX_JSON_BYTES)


def load_space(path: str | None) -> SearchSpace | None:
    return SearchSpace.from_json(read_text(path, "space")) if path else None


def load_config(path: str) -> Config:
    return Config.from_json(read_text(path, "config"))


def default_out(kind: str) -> str:
    """``runs/KIND-DATE-TIME``: where a run writes when ``--out`` is not given."""
    return os.path.join("runs", time.strftime(f"{kind}-%Y%m%d-%H%M%S"))


def set_threads(threads: int | None) -> None:
    import torch

    n = threads or max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(n)


def progress_factory(quiet: bool) -> Any:
    """A ``progress(iterable, description, total)`` wrapper drawing tqdm bars, or None."""
    if quiet:
        return None
    from tqdm import tqdm

    def progress(iterable: Iterable, description: str, total: int) -> Iterable:
        return tqdm(iterable, desc=description, total=total, leave=False, position=1, dynamic_ncols=True)

    return progress


def epoch_line(line: str) -> None:
    """Print a training epoch's line on stderr above the progress bars, where it stays."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def warn_chance_level(evaluator: Any, full_precision: float | None, accuracies: Sequence[float | None]) -> None:
    """One warning line on stderr when the full-precision network or points of a result are
    at chance level (:meth:`Evaluator.chance_accuracy`): such a point is no result."""
    ceiling = evaluator.chance_accuracy()
    low = [a for a in accuracies if a is not None and a <= ceiling]
    if full_precision is not None and full_precision <= ceiling:
        print(f"spikebits: warning: the full-precision network is at chance level ({100 * full_precision:.2f}% validation, "
              f"guessing reaches up to {100 * ceiling:.2f}%): nothing below is a result; pretrain longer (--pretrain-epochs auto)",
              file=sys.stderr)
    elif low:
        print(f"spikebits: warning: {len(low)} of {len(accuracies)} points are at chance level (validation accuracy ≤ "
              f"{100 * ceiling:.2f}%, what guessing reaches): they are not results; fine-tune them longer (--epochs)", file=sys.stderr)


def make_evaluator(args: argparse.Namespace, *, progress: Any = None, epochs: int | None = None, check_memory: bool = True) -> Any:
    """The evaluator of the command line's settings; with ``progress`` (bars on), each
    training epoch also prints a line that stays (:func:`epoch_line`). With ``check_memory``
    (a search, a comparison), the space's largest config must fit in memory
    (:meth:`Evaluator.check_memory`: a one-line error before any data is read or any weight
    allocated); a command that runs other configs checks its own."""
    evaluator = new_evaluator(args, progress=progress, epochs=epochs)
    if check_memory:
        evaluator.check_memory()
    return evaluator


def new_evaluator(args: argparse.Namespace, *, progress: Any = None, epochs: int | None = None) -> Any:
    """The evaluator of :func:`make_evaluator`, before its memory check."""
    from spikebits.evaluators import Evaluator, OneShotEvaluator

    one_shot = getattr(args, "scoring", "finetune") == "one-shot"
    extra = {"one_shot_epochs": args.one_shot_epochs} if one_shot else {}
    if one_shot and args.bn_batches is not None:
        extra["bn_batches"] = args.bn_batches
    for flag, name in (("--one-shot-epochs", "one_shot_epochs"), ("--bn-batches", "bn_batches")):
        if not one_shot and getattr(args, name, None) is not None:
            raise ConfigError(f"{flag} sets one-shot scoring; add --scoring one-shot or drop it")
    return (OneShotEvaluator if one_shot else Evaluator)(
        args.model,
        args.dataset,
        seed=args.seed,
        epochs=epochs if epochs is not None else args.epochs,
        lr=args.lr,
        device=args.device,
        cache_dir=args.cache_dir,
        data_root=args.data_root,
        space=load_space(args.space),
        progress=progress,
        log=epoch_line if progress is not None else None,
        pretrain_epochs=args.pretrain_epochs,
        energy_model=args.energy_model,
        val_fraction=args.val_fraction,
        train_fraction=args.train_fraction,
        augment={"auto": None, "on": True, "off": False}[args.augment],
        workers=args.workers,
        input_shape=args.input_shape,
        amp=args.amp,
        channels_last=args.channels_last,
        model_kwargs=model_kwargs(args),
        membrane_bits=getattr(args, "membrane_bits", None),
        chip=getattr(args, "chip", None),
        **extra,
    )


def add_scoring_arguments(p: argparse.ArgumentParser) -> None:
    """How a search scores the configs its strategy proposes (``search``, ``compare``)."""
    p.add_argument(
        "--scoring", choices=("finetune", "one-shot"), default="finetune",
        help="finetune (default): each config fine-tuned from the pretrained network; one-shot: each config scored with the shared "
        "weights of one supernet trained over the whole space, BatchNorm recomputed per config, and the front then fine-tuned (README)",
    )
    p.add_argument(
        "--one-shot-epochs", type=positive_epoch_count, metavar="N",
        help="training epochs of the one-shot supernet (default: enough to see 50,000 training images, 1 to 30 epochs)",
    )
    p.add_argument(
        "--bn-batches", type=batch_count, metavar="N",
        help="batches of 256 training images over which one-shot scoring recomputes BatchNorm per config (default 8)",
    )


#: Architecture arguments that ``--dataset`` and ``--input-shape`` set.
SHAPE_ARGS = ("num_classes", "in_channels", "image_size", "input_shape")


def parse_model_arg(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` → (key, value) (argparse type of ``--model-arg``). VALUE is JSON (a
    number, a list such as [8,16,16], true/false, a quoted string) or a bare word."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, for example embed_dim=256 or widths=[8,16,16]")
    if key in SHAPE_ARGS:
        raise argparse.ArgumentTypeError(f"{key} is set by --dataset and --input-shape, not by --model-arg")
    try:
        value = parse_json(raw, f"--model-arg {key}")
    except SpikebitsError:
        if not raw.strip() or not all(c.isalnum() or c in "_-." for c in raw.strip()):
            raise argparse.ArgumentTypeError(f"{key}={raw!r}: the value is neither JSON nor a plain word") from None
        value = raw.strip()
    if isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{key}: give a number, a list or a word, not an object")
    return key, tuple(value) if isinstance(value, list) else value


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The architecture's keyword arguments from ``--model-arg`` (the last of a key wins)."""
    return dict(getattr(args, "model_args", None) or ())


def check_names(args: argparse.Namespace) -> None:
    """Unknown model and data set names, and architecture arguments the model refuses, fail
    before any work (the model is built on the meta device: no memory, no arithmetic)."""
    from spikebits import models
    from spikebits.evaluators import datasets

    if args.model not in models.available():
        raise unknown_name_error("model", args.model, models.available())
    datasets.check_dataset(args.dataset)
    if model_kwargs(args):
        datasets.build_structure(args.model, datasets.model_arguments(args.dataset, args.input_shape, model_kwargs(args))[0])


def build_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """(model, data set info) for ``--model`` on ``--dataset``'s input shape. Its weights must
    fit in memory (:func:`evaluators.resources.check_memory`, counted on the meta device
    before they are allocated)."""
    from spikebits import models
    from spikebits.evaluators import datasets, resources
    from spikebits.evaluators.evaluator import network_name

    check_names(args)
    kwargs, shape = datasets.model_arguments(args.dataset, args.input_shape, model_kwargs(args))
    weights = resources.weights_estimate(resources.parameter_count(datasets.build_structure(args.model, kwargs)))
    resources.check_memory(weights, network_name(args.model, args.dataset, model_kwargs(args)), hint="use a smaller model (--model-arg)")
    return models.build(args.model, **kwargs), datasets.DatasetInfo(args.dataset, shape, kwargs["num_classes"])


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``C,H,W`` → three positive ints (argparse type of ``--input-shape``)."""
    from spikebits.evaluators.datasets import check_input_shape

    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not C,H,W with three positive sizes, for example 3,32,32")
    try:
        return check_input_shape(shape)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """``--model`` and ``--dataset``: what every subcommand that builds a model takes."""
    from spikebits import models
    from spikebits.evaluators import datasets

    p.add_argument(
        "--model", help=f"architecture: {', '.join(models.available())} (default: the data set's, mnist_cnn for the MNIST family, else digits_cnn)"
    )
    p.add_argument(
        "--model-arg", dest="model_args", action="append", type=parse_model_arg, metavar="KEY=VALUE",
        help="an architecture argument (repeat for more), for example --model-arg embed_dim=256 --model-arg depth=2 "
        "(spikformer) or --model-arg widths=[8,16,16] (resnet20); VALUE is JSON or a word",
    )

    names = ", ".join(datasets.available())
    p.add_argument("--dataset", default="digits", help=f"data set: {names}; sets the input shape of cost figures without reading data")
    p.add_argument(
        "--input-shape", type=parse_input_shape, metavar="C,H,W",
        help="input shape for costs and the model (default: the data set's, e.g. 3,32,32 for cifar10)",
    )


def membrane_list(text: str) -> tuple[int, ...]:
    """``--membrane-bits``: a comma-separated list of membrane widths U, each 2 to 32."""
    from spikebits.space.config import MAX_MEMBRANE_BITS, MIN_MEMBRANE_BITS

    values = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{short_repr(part.strip())} is not a whole number; give widths such as 4,8,16") from None
        if not MIN_MEMBRANE_BITS <= value <= MAX_MEMBRANE_BITS:
            raise argparse.ArgumentTypeError(f"{value} is out of range; give widths from {MIN_MEMBRANE_BITS} to {MAX_MEMBRANE_BITS}, such as 4,8,16")
        values.append(value)
    return tuple(sorted(set(values)))


def add_membrane_argument(p: argparse.ArgumentParser) -> None:
    """``--membrane-bits U,U,...``: search the membrane width U in every unpinned layer."""
    p.add_argument(
        "--membrane-bits", type=membrane_list, metavar="U,U,...",
        help="also search each unpinned layer's membrane width U among these (e.g. 4,8,12,16; docs/membrane_bits.md); "
        "default: an unquantized membrane, costs at the energy model's membrane_bits",
    )


def add_chip_argument(p: argparse.ArgumentParser) -> None:
    """``--chip NAME|FILE``: search the space a chip allows, every config placed on its cores."""
    p.add_argument(
        "--chip", metavar="NAME|FILE",
        help="search for this chip (`spikebits chips` lists them; or a profile .toml): the space from the chip's allowed "
        "W/S/T/U, each config placed on its cores (cores_used, core_memory_bits), cores_used budgeted at the chip's core count",
    )


def chip_budget(budget: Budget, chip: Any) -> Budget:
    """``budget`` with ``cores_used`` at most the chip's core count when the run is for a chip
    (``--chip``; a limit the user gave that is tighter stays), so that a config that cannot be
    placed is never trained, like any other data-free budget; unchanged without a chip or for
    a chip without a core count."""
    from spikebits.space.metrics import CORES_USED

    cores = None if chip is None else chip.capacity.cores
    if cores is None:
        return budget
    given = {c.metric: c for c in budget.constraints}
    if CORES_USED.name in given and given[CORES_USED.name].limit <= cores:
        return budget
    kept = tuple(c for c in budget.constraints if c.metric != CORES_USED.name)
    return Budget((*kept, Constraint(CORES_USED.name, float(cores))))


def print_placement(evaluator: Any, front: Sequence[Any]) -> None:
    """The placement table of the front's most accurate point on the run's chip."""
    from spikebits.evaluators.chips import place
    from spikebits.space.metrics import ACCURACY

    best = max(front, key=lambda r: (r.metrics.get(ACCURACY.name) or 0.0, -r.number))
    full = evaluator.space.complete(best.config, strict=False)
    print(f"the most accurate point (#{best.number}) on {evaluator.chip.name}:")
    print(place(evaluator.chip, evaluator.specs, full).table())


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of every subcommand that trains or evaluates."""
    add_model_arguments(p)
    p.add_argument("--space", help="search space JSON (from `spikebits space`), edited per layer")
    add_membrane_argument(p)
    add_chip_argument(p)
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the data split, training and sampler")
    p.add_argument("--device", default="cpu", help="cpu, cuda (cuda:N) or auto (cuda when a GPU is there)")
    p.add_argument(
        "--amp", action="store_true",
        help="bf16 mixed precision while training (meant for CUDA); neurons and quantizers stay in float32, so their levels do not change",
    )
    p.add_argument(
        "--channels-last", action="store_true",
        help="train in the channels-last (NHWC) memory format: the same arithmetic in another order; faster only on some devices (README, Devices)",
    )
    p.add_argument("--lr", type=positive_float, default=1e-3, help="fine-tuning learning rate (Adam)")
    p.add_argument(
        "--pretrain-epochs", type=pretrain_epochs, default=None, metavar="N|auto",
        help="full-precision pretraining epochs (cached); auto (default): until validation accuracy stops improving (README)",
    )
    p.add_argument("--cache-dir", help="pretraining cache (default $SPIKEBITS_CACHE or ~/.cache/spikebits)")
    p.add_argument("--data-dir", "--data-root", dest="data_root", metavar="DIR", help="folder holding the data set's files (mnist, cifar10, event data)")
    p.add_argument("--val-fraction", type=fraction_open, default=0.1, help="share of the training data held out for validation (default 0.1)")
    p.add_argument(
        "--train-fraction", type=bounded(float, 0, 1, low_open=True, what="above 0 and at most 1"), default=1.0, metavar="F",
        help="train (pretraining, supernets, fine-tuning) on a seeded random share F of the training split (default 1)",
    )
    p.add_argument(
        "--augment", choices=("auto", "on", "off"), default="auto",
        help="training augmentation: auto (the data set's default: crops and flips for CIFAR, none for the MNIST family "
        "and digits), on (CIFAR: crops and flips; MNIST family: shifts of up to 2 pixels, never flips) or off",
    )
    p.add_argument(
        "--workers", type=worker_count, default=0, help=f"DataLoader worker processes reading training batches (default 0, at most {MAX_WORKERS})"
    )
    p.add_argument("--threads", type=thread_count, help="torch CPU threads (default: the machine's cores, at most 8)")
    p.add_argument(
        "--energy-model",
        default="horowitz45nm",
        metavar="PRESET|FILE",
        help="energy_pj estimate: horowitz45nm (default), bitserial45nm, loihi, or a TOML/JSON file of constants",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
