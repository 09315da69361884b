"""The :class:`Evaluator`: one config in, the fixed metric keys out."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch

from spikebits.evaluators import datasets, resources
from spikebits.evaluators.data import chance_ceiling, check_val_fraction
from spikebits.evaluators.activity import LayerActivity, activity_rates, record_layer_activity
from spikebits.evaluators.chips import ChipProfile, chip_space, load_profile, place, profile_names
from spikebits.evaluators.cost import bit_averages, cost_metrics, s_ace
from spikebits.evaluators.energy import EnergyModel, EnergyReport, energy_report, load_energy_model
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.evaluators.sensitivity_report import SensitivityReport
from spikebits.evaluators.training import Log, Progress, StopRequest, TrainSettings, accuracy, calibrate, pretrained_state, train
from spikebits.models import (
    SpikingNetwork,
    apply_config,
    build,
    default_space,
    current_config,
    layer_specs,
    set_full_precision,
)
from spikebits.space import RECORD_METRICS, Config, ConfigError, SearchSpace, short_repr


def resolve_device(device: str | None) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` (cuda when a GPU is there, else cpu) or
    None (cpu); any other device, a missing CUDA or a CUDA index this machine lacks is a
    one-line error."""
    name = device or "cpu"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda (cuda:N for the N-th GPU)") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} cannot train here; use cpu or cuda (cuda:N for the N-th GPU)")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return resolved


def network_name(model: str, dataset: str, model_kwargs: dict | None) -> str:
    """How a resource error names the network: ``resnet20 with widths=[16384, 16384, 16384]
    on cifar10`` (the architecture arguments the user gave, each shortened)."""
    given = ", ".join(f"{k}={short_repr(list(v) if isinstance(v, tuple) else v)}" for k, v in (model_kwargs or {}).items())
    return f"{model}{f' with {given}' if given else ''} on {dataset}"


def check_folder_option(path: str | Path | None, flag: str, *, must_exist: bool) -> Path | None:
    """``path`` if it is a folder (or, unless ``must_exist``, does not exist yet); a file or a
    device in its place is a one-line :class:`ConfigError` naming ``flag``."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is not a folder; give a folder")
    if must_exist and not path.exists():
        raise ConfigError(f"{flag} {path} does not exist; give the folder that holds the data set's files")
    return path


class Evaluator:
    """Scores configs of one model on one data set with the fixed metric keys of DESIGN.md.

    * :meth:`cost` — ``bit_budget``, ``s_ace``, ``size_bits``, ``effective_resolution``,
      ``energy_pj`` (dense estimate under ``energy_model``, :mod:`evaluators.energy`):
      pure functions of architecture, input shape and config; no data, no training.
    * :meth:`__call__` — the cost metrics plus ``accuracy`` (validation split, after a short
      quantization-aware fine-tune of the cached full-precision model on the training split),
      ``firing_rate`` (non-zero fraction of the spikes fed to the unpinned layers, on the
      validation split), the event-driven ``s_ace_active`` and ``energy_pj_active``, and
      ``test_accuracy`` — the same model on the test split, read once, to report
      (:meth:`score`). Nothing a strategy decides on reads the test split.
    * :meth:`sensitivity` — the per-layer sensitivity report of the pretrained network
      (Hessian Ω on the full-precision or the quantized network, output error, kurtosis),
      measured once and cached.

    Every strategy calls the same instance, so strategies compete on equal terms.
    """

    #: How a config is scored: fine-tuned from the full-precision network (the one-shot
    #: evaluator scores with a trained supernet's shared weights instead).
    scoring: str = "finetune"

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every declared metric (:func:`space.metric_table`): the costs from their formulas,
        the data metrics from :meth:`score`."""
        return tuple(RECORD_METRICS)

    def __init__(
        self,
        model: str = "digits_cnn",
        dataset: str = "digits",
        *,
        seed: int = 0,
        epochs: int = 1,
        lr: float = 1e-3,
        batch_size: int = 64,
        pretrain_epochs: int | None = None,
        pretrain_lr: float = 2e-3,
        device: str | None = "cpu",
        cache_dir: str | Path | None = None,
        data_root: str | Path | None = None,
        space: SearchSpace | None = None,
        model_kwargs: dict | None = None,
        progress: Progress | None = None,
        log: Log | None = None,
        energy_model: str | Path | EnergyModel | None = None,
        val_fraction: float = datasets.VAL_FRACTION,
        train_fraction: float = 1.0,
        augment: bool | None = None,
        workers: int = 0,
        input_shape: tuple[int, ...] | None = None,
        amp: bool = False,
        channels_last: bool = False,
        membrane_bits: Sequence[int] | None = None,
        chip: str | Path | None = None,
    ) -> None:
        datasets.check_dataset(dataset)
        self.val_fraction, self.workers = check_val_fraction(val_fraction), resources.check_workers(workers)
        if not 0.0 < train_fraction <= 1.0:
            raise ConfigError(f"--train-fraction must be above 0 and at most 1, not {train_fraction}")
        if augment is not None and not datasets.augments(dataset):
            raise ConfigError(f"data set {dataset} has no training augmentation to switch {'on' if augment else 'off'}; drop --augment")
        self.train_fraction, self.augment = float(train_fraction), augment
        self.energy_model = load_energy_model(energy_model)
        self.model_name, self.dataset = model, dataset
        self.seed = seed
        self.device = resolve_device(device)
        fmt = {"amp": amp, "channels_last": channels_last}
        self.finetune_settings = TrainSettings(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, workers=self.workers, **fmt)
        self.pretrain_settings = TrainSettings(
            epochs=pretrain_epochs, lr=pretrain_lr, batch_size=batch_size, seed=seed, workers=self.workers, **fmt
        )
        self.cache_dir = check_folder_option(cache_dir, "--cache-dir", must_exist=False)
        self.data_root = check_folder_option(data_root, "--data-dir", must_exist=True)
        self.progress = progress
        self.log = log
        #: Asks the training in progress (pretraining, fine-tuning, a supernet) to stop at its
        #: next batch (:class:`evaluators.training.StopRequest`; the CLI's signal handler sets it).
        self.stop = StopRequest()
        self.model_kwargs, self.input_shape = datasets.model_arguments(dataset, input_shape, model_kwargs)
        probe = datasets.build_structure(model, self.model_kwargs)
        self.specs = layer_specs(probe, self.input_shape)
        #: Values the network holds (parameters and buffers), counted on the meta device.
        self.parameter_count = resources.parameter_count(probe)
        self._network_name = network_name(model, dataset, model_kwargs)
        self.space = space if space is not None else default_space(probe)
        if membrane_bits:
            # U searched in every unpinned layer (``--membrane-bits``; docs/membrane_bits.md)
            self.space = self.space.searching_membrane(membrane_bits)
        self.chip = self._chip(chip)
        if set(self.space.names) != {s.name for s in self.specs}:
            raise ConfigError(f"the space's layers do not match model {model!r}; write a fresh one with `spikebits space --model {model}`")
        self._data: datasets.DataSplit | None = None
        self.last_activity: dict[str, LayerActivity] | None = None
        self._pretrained: tuple[dict, dict[str, float]] | None = None
        self._sensitivity: dict[tuple[int, int, str], SensitivityReport] = {}

    def describe(self) -> dict:
        """JSON-able settings for ``run.json``."""
        info = {
            "model": self.model_name,
            "model_kwargs": self.model_kwargs,
            "dataset": self.dataset,
            "seed": self.seed,
            "device": str(self.device),
            "finetune": self.finetune_settings.__dict__,
            "pretrain": self.pretrain_settings.__dict__,
            "energy_model": {**self.energy_model.to_dict(), "basis": "estimate"},
        }
        info["val_fraction"] = self.val_fraction
        info["train_fraction"] = self.train_fraction
        info["augment"] = self.augment
        info["input_shape"] = list(self.input_shape)
        if self._pretrained is not None:
            info["full_precision_accuracy"] = self._pretrained[1]["accuracy"]
            if "epochs" in self._pretrained[1]:
                info["pretrain_epochs_trained"] = int(self._pretrained[1]["epochs"])
            if "test_accuracy" in self._pretrained[1]:
                info["full_precision_test_accuracy"] = self._pretrained[1]["test_accuracy"]
        return info

    def _chip(self, chip: str | Path | None) -> ChipProfile | None:
        """The chip profile the search is for (``--chip``, or the one a space file names), with
        the space restricted to what the chip allows (:func:`evaluators.chips.chip_space`);
        a layer that fits no core of the chip even at the space's smallest config is a
        one-line :class:`ConfigError` here, before any data is read."""
        named = self.space.chip
        if chip is None and named is None:
            return None
        given = str(chip) if chip is not None else named
        profile = load_profile(given)  # an unknown name or a bad file: one line
        reference = given if given in profile_names() else str(Path(given).expanduser().resolve())
        if chip is not None and named is not None and named != reference:
            raise ConfigError(f"the space file is for chip {named!r}, not {str(chip)!r}; drop --chip or write the space again with `spikebits space --chip {chip}`")
        self.space = dataclasses.replace(chip_space(profile, self.space, specs=self.specs), chip=reference)
        place(profile, self.specs, self.space.smallest_config())
        return profile

    # ---------------------------------------------------------------- data-free
    def cost(self, config: Config, *, strict: bool = False) -> dict[str, float]:
        """Cost metrics of ``config`` (missing pinned layers are filled in)."""
        full = self.space.complete(config, strict=strict)
        return cost_metrics(self.specs, full, self.space, self.energy_model)

    def energy(self, config: Config, *, rates: dict[str, float] | None = None) -> EnergyReport:
        """The energy estimate of ``config``: dense, or event-driven with measured ``rates``."""
        return energy_report(self.specs, self.space.complete(config, strict=False), self.energy_model, rates=rates)

    def averages(self, config: Config) -> tuple[float, float, float]:
        """(W̄, S̄, T̄) over the unpinned layers."""
        return bit_averages(self.specs, self.space.complete(config, strict=False), self.space.free_layers)

    # ---------------------------------------------------------------- resources
    def layer_timesteps(self, config: Config | None = None) -> dict[str, int]:
        """Each layer's T under ``config`` (missing pinned layers filled in); None: the space's
        largest config, the most any trial of a search runs at."""
        full = self.space.largest_config() if config is None else self.space.complete(config, strict=False)
        return {name: choice.timesteps for name, choice in full.items()}

    def memory_estimate(
        self, timesteps: int | dict[str, int], *, training: bool = True, batch_size: int | None = None
    ) -> resources.MemoryEstimate:
        """What one batch of the network at ``timesteps`` (one T, or T per layer) needs while
        training (gradients and Adam included; default batch: the fine-tuning one) or
        evaluating (default batch :data:`evaluators.resources.EVALUATION_BATCH`):
        :func:`evaluators.resources.estimate_memory`."""
        if batch_size is None:
            batch_size = self.finetune_settings.batch_size if training else resources.EVALUATION_BATCH
        return resources.estimate_memory(self.specs, self.parameter_count, timesteps, batch_size=batch_size, training=training)

    def check_memory(self, config: Config | None = None, *, timesteps: int | None = None, batch_size: int | None = None) -> None:
        """Refuse, before anything is allocated, a run that would not fit: a T above
        :data:`space.config.MAX_TIMESTEPS`, or a training or evaluation batch whose memory
        estimate is above the limit (:func:`evaluators.resources.check_memory`). At ``config``
        (None: the space's largest), or at ``timesteps`` in every layer (full precision: 1);
        ``batch_size``: the training batch when it is not the fine-tuning one (a supernet's).
        Computed from the layer specs: no allocation, well under a millisecond per layer."""
        steps = timesteps if timesteps is not None else self.layer_timesteps(config)
        resources.check_timesteps(steps)
        estimates = [self.memory_estimate(steps, training=True, batch_size=batch_size), self.memory_estimate(steps, training=False)]
        worst = max(estimates, key=lambda e: e.total_bytes)
        resources.check_memory(worst, self._network_name, device=self.device)

    # ---------------------------------------------------------------- training
    @property
    def data(self) -> datasets.DataSplit:
        if self._data is None:
            data = datasets.load(
                self.dataset, seed=self.seed, root=self.data_root, val_fraction=self.val_fraction, augment=self.augment,
                train_fraction=self.train_fraction,
            )
            if tuple(data.input_shape) != self.input_shape:
                raise ConfigError(
                    f"{self.dataset} yields inputs of shape {','.join(map(str, data.input_shape))}, not the "
                    f"{','.join(map(str, self.input_shape))} asked for; drop --input-shape to train on it"
                )
            self._data = data
        return self._data

    @property
    def data_key(self) -> dict:
        """What decides the training data besides the data set's name and the seed (part of
        the pretraining cache key)."""
        key: dict = {"val_fraction": self.val_fraction}
        # The others enter only when set, so the checkpoints written before them keep their names.
        if self.train_fraction != 1.0:
            key["train_fraction"] = self.train_fraction
        if self.augment is not None:
            key["augment"] = self.augment
        return key

    def chance_accuracy(self) -> float:
        """The validation accuracy below which a config is not told apart from guessing
        (:func:`evaluators.data.chance_ceiling`): a point at or below it is no result."""
        return chance_ceiling(datasets.info(self.dataset).num_classes, len(self.data.val))

    def new_model(self) -> SpikingNetwork:
        return build(self.model_name, **self.model_kwargs)

    def pretrained(self) -> tuple[dict, float]:
        """The cached full-precision state dict and its validation accuracy."""
        if self._pretrained is None:
            self.check_memory(timesteps=1)  # pretraining: full precision, T = 1
            # The initial weights come from the seed, not from whatever the global random
            # state is when pretraining happens (the cache key names the seed).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = self.new_model()
            self._pretrained = pretrained_state(
                model,
                self.dataset,
                self.data.train,
                self.data.val,
                self.pretrain_settings,
                test_data=self.data.test,
                cache_dir=self.cache_dir,
                device=self.device,
                progress=self.progress,
                data_key=self.data_key,
                log=self.log,
                stop=self.stop,
            )
        return self._pretrained[0], self._pretrained[1]["accuracy"]

    def prepare(self) -> None:
        """What every trial needs, done once: the pretrained network (trained or read from the
        cache) and the data. An executor calls it before it sends the evaluator to other
        processes, so that they receive the result instead of redoing it. First, before
        anything is allocated, the space's largest config must fit (:meth:`check_memory`)."""
        self.check_memory()
        self.pretrained()
        _ = self.data

    def full_precision_model(self) -> SpikingNetwork:
        state, _ = self.pretrained()
        model = set_full_precision(self.new_model())
        model.load_state_dict(state)
        return model.to(self.device)

    def sensitivity(
        self, *, probes: int = 200, batches: int = 4, progress: Progress | None = None, network: str = "full"
    ) -> SensitivityReport:
        """The per-layer sensitivity report of the pretrained network: the one entry point
        every strategy and the CLI use.

        Measured by :func:`evaluators.sensitivity_measure.measure_sensitivity` with at most
        ``probes`` Hutchinson probes on the first ``batches`` training batches, the Hessian
        traces taken on ``network`` (``"full"``: the full-precision network; ``"quantized"``:
        the same weights at the space's largest config over its time steps, Lui & Neftci), its
        other settings at their defaults; cached on disk next to the pretraining checkpoint,
        and memoised in this evaluator per (probes, batches, network), so a second call
        returns the same object. ``progress`` (default: the evaluator's) shows the probes
        while measuring.
        """
        key = (probes, batches, network)
        if key not in self._sensitivity:
            self._sensitivity[key] = measure_sensitivity(self, probes=probes, batches=batches, progress=progress, network=network)
        return self._sensitivity[key]

    def finetune(self, config: Config, *, epochs: int | None = None, on_epoch=None) -> SpikingNetwork:
        """The pretrained model set to ``config``, step sizes calibrated, fine-tuned ``epochs``
        (``on_epoch(epoch, model)`` after each epoch, see :func:`evaluators.training.train`).
        A config that would not fit is refused first (:meth:`check_memory`)."""
        full = self.space.complete(config, strict=False)
        self.check_memory(full)
        model = self.full_precision_model()
        apply_config(model, full)
        model.to(self.device)
        calibrate(model, self.data.train, device=self.device)
        return self._fit(model, epochs=epochs, on_epoch=on_epoch)

    def train(self, model: SpikingNetwork, *, epochs: int | None = None, on_epoch=None, description: str = "fine-tune") -> SpikingNetwork:
        """Train the configured ``model`` in place with the fine-tuning settings (``epochs``
        replaces their epochs) on the training split; returns it. A model set to a config that
        would not fit is refused before the first batch (:meth:`check_memory`)."""
        config = current_config(model)
        if config is not None and set(config) == set(self.space.names):
            self.check_memory(config)
        return self._fit(model, epochs=epochs, on_epoch=on_epoch, description=description)

    def _fit(self, model: SpikingNetwork, *, epochs: int | None = None, on_epoch=None, description: str = "fine-tune") -> SpikingNetwork:
        """:meth:`train` once its memory check is done (:meth:`finetune` made it before building the model)."""
        settings = self.finetune_settings
        if epochs is not None:
            settings = dataclasses.replace(settings, epochs=epochs)
        train(model, self.data.train, settings, device=self.device, progress=self.progress, description=description, on_epoch=on_epoch,
              log=self.log, stop=self.stop)
        return model

    def validation_accuracy(self, model: SpikingNetwork) -> float:
        """Top-1 accuracy on the validation split: what strategies, early stopping and the
        supernet decide on."""
        return accuracy(model, self.data.val, device=self.device, workers=self.workers)

    def score(self, model: SpikingNetwork, *, test: bool = True) -> dict[str, float]:
        """The data-dependent metrics of a trained model: on the validation split ``accuracy``,
        ``firing_rate`` (non-zero fraction of the spikes fed to the unpinned layers), and the
        event-driven ``s_ace_active`` and ``energy_pj_active`` (each layer's ops scaled by
        its measured non-zero input-spike rate); then, with ``test``, ``test_accuracy`` on the
        test split, to report only. The per-layer activity (validation) is kept in
        :attr:`last_activity`."""
        with record_layer_activity(model) as stats:
            acc = self.validation_accuracy(model)
        self.last_activity = stats
        free = [stats[n] for n in self.space.free_layers]
        total = sum(sum(a.total) for a in free)
        rate = sum(sum(a.nonzero) for a in free) / total if total else 0.0
        config = current_config(model)
        rates = activity_rates(stats)
        metrics = {
            "accuracy": acc,
            "firing_rate": rate,
            "s_ace_active": s_ace(self.specs, config, rates=rates),
            "energy_pj_active": energy_report(self.specs, config, self.energy_model, rates=rates).total_pj,
        }
        if test:
            metrics["test_accuracy"] = accuracy(model, self.data.test, device=self.device, workers=self.workers)
        return metrics

    def __call__(self, config: Config, *, on_epoch=None) -> dict[str, float]:
        """All metrics of ``config`` (fixed keys of DESIGN.md)."""
        metrics = self.cost(config)
        metrics.update(self.score(self.finetune(config, on_epoch=on_epoch)))
        return metrics
