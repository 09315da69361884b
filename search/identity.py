"""A run folder's identity: the settings that determine its results, kept in ``settings.json``.

A search (or one run of a comparison) records, before its first trial, the settings its
numbers depend on (:func:`run_settings`): the strategy and its options, the objectives and the
budget, the space, the evaluator's model, data, training and scoring settings
(:func:`evaluator_identity`), the seed, early stopping, and what the caller adds (a
comparison's evaluation budget). Run again into the same folder, the same settings resume or
redo the run as before; other settings are refused in one line naming the first differing
setting and both values (:func:`claim_run_folder`), so results made under one set of settings
are never reported under another. ``restart`` instead discards the folder's earlier run (its
output files and the study spikebits keeps in the folder) and starts afresh.

What a run's numbers do not depend on is left out: where the study is stored, how many trials
are asked for (more trials continue a study), worker processes, the device, and what
pretraining found.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spikebits.search.base import ConfigEvaluator, Strategy
from spikebits.space import Budget, ConfigError, DataError, atomic_write_text, read_json_file, remove_run_files

#: The file that holds a run folder's settings.
SETTINGS_FILE = "settings.json"
SETTINGS_SCHEMA = "spikebits.settings/1"
#: Largest settings file read (a space of many layers and a few warm starts stay far below).
MAX_SETTINGS_BYTES = 16 << 20
#: Files whose presence says a folder holds a run's results (or a study it resumes).
RESULT_FILES = ("run.json", "pareto.json", "trials.csv", "timeline.json", "study.journal")
#: What spikebits keeps of a run in its folder besides the output files: the study of a
#: resumable strategy (when no --storage is given) and its artifacts.
STUDY_FILES = ("study.journal", "study.artifacts")

#: What ``Evaluator.describe`` says that is not part of a run's identity: where it runs, and
#: what pretraining found (known only once it ran).
NOT_IDENTITY = ("device", "full_precision_accuracy", "full_precision_test_accuracy", "pretrain_epochs_trained")
#: Strategy options that say where a study is kept, not what it finds.
NOT_IDENTITY_OPTIONS = ("storage", "study_name")


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, other objects as text)."""
    return json.loads(json.dumps(value, default=str))


def evaluator_identity(evaluator: ConfigEvaluator) -> dict:
    """The evaluator's result-changing settings (model, data, training, scoring), which a
    resumed study or run folder must share with the run that made it (DESIGN: resuming with
    other settings is refused). A test double's (:class:`search.base.EvaluatorBase`) has none."""
    info = evaluator.describe()
    identity = {k: v for k, v in info.items() if k not in NOT_IDENTITY}
    for phase in ("finetune", "pretrain"):  # loader processes change the speed, not the result
        if isinstance(identity.get(phase), dict):
            identity[phase] = {k: v for k, v in identity[phase].items() if k != "workers"}
    return _jsonable(identity)


def run_settings(
    strategy: Strategy,
    evaluator: ConfigEvaluator,
    objectives: Sequence[str],
    budget: Budget,
    *,
    executor: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings a run's results depend on, as ``settings.json`` records them (the
    executor's: whether and how it stops trials early, :func:`executor_identity`)."""
    options = {k: v for k, v in strategy.options.to_dict().items() if k not in NOT_IDENTITY_OPTIONS}
    return _jsonable({
        "strategy": {"name": strategy.name, "seed": strategy.seed, **options},
        "evaluator": evaluator_identity(evaluator),
        "objectives": list(objectives),
        "budget": budget.to_dict(),
        "space": evaluator.space.to_dict(),
        "early_stop": executor_identity(executor),
        **(extra or {}),
    })


def executor_identity(executor: Any) -> dict[str, Any]:
    """Of an executor's settings, those that change results: whether it stops trials early,
    and the rule's settings (not where or how many at once it runs them)."""
    described = executor.describe() if executor is not None else {}
    identity: dict[str, Any] = {"on": bool(described.get("early_stop", False))}
    rule = described.get("successive_halving")
    if identity["on"] and isinstance(rule, dict):
        identity.update({k: rule[k] for k in ("rule", "reduction_factor", "grace_epochs") if k in rule})
    return identity


#: The command-line flag behind a setting (the longest matching prefix of its dotted path).
FLAGS = {
    "strategy.name": "--strategy", "strategy.seed": "--seed", "objectives": "--objectives", "budget": "--budget",
    "space": "--space", "early_stop": "--early-stop", "evaluator.model": "--model", "evaluator.model_kwargs": "--model-arg",
    "evaluator.dataset": "--dataset", "evaluator.seed": "--seed", "evaluator.input_shape": "--input-shape",
    "evaluator.finetune.epochs": "--epochs", "evaluator.finetune.lr": "--lr", "evaluator.pretrain.epochs": "--pretrain-epochs",
    "evaluator.energy_model": "--energy-model", "evaluator.val_fraction": "--val-fraction",
    "evaluator.train_fraction": "--train-fraction", "evaluator.augment": "--augment", "evaluator.scoring": "--scoring",
    "evaluation_budget": "--evaluations/--time-budget",
}
#: Shown for a setting one side does not have.
NOT_SET = "(not set)"


def flag_of(path: str) -> str | None:
    """The command-line flag that sets the setting at the dotted ``path``, if one does."""
    best = max((p for p in FLAGS if path == p or path.startswith(p + ".") or path.startswith(p + "[")), key=len, default=None)
    return None if best is None else FLAGS[best]


def first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place where two JSON values differ, as (dotted path, old, new); None when
    they are equal. Keys are visited in ``new``'s order, then those only ``old`` has."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                return where, old.get(key, NOT_SET), new.get(key, NOT_SET)
            found = first_difference(old[key], new[key], where)
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    same = old == new and type(old) is type(new)  # both read back from JSON: 1 and 1.0 differ only if they were given so
    return None if same else (path or "settings", old, new)


def _shown(value: Any, limit: int = 60) -> str:
    if value is NOT_SET:
        return value
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_settings(folder: Path) -> dict[str, Any] | None:
    """The settings recorded in ``folder`` (None when it records none), read strictly
    (:func:`space.read_json_file`: a regular file, not a link, finite numbers); a damaged file
    is a one-line :class:`space.DataError`."""
    path = folder / SETTINGS_FILE
    if not path.exists() and not path.is_symlink():
        return None
    hint = f"delete it, or add --restart to replace the run in {folder}"
    data = read_json_file(path, "settings file", hint=hint, fix=hint, limit=MAX_SETTINGS_BYTES, error=DataError,
                          follow_symlinks=False)
    if not isinstance(data, dict) or data.get("schema") != SETTINGS_SCHEMA or not isinstance(data.get("settings"), dict):
        raise DataError(f"settings file {path} is not a {SETTINGS_SCHEMA} file; {hint}")
    return data["settings"]


def holds_results(folder: Path) -> list[str]:
    """The files in ``folder`` that say it holds a run's results (or a study to resume)."""
    return [name for name in RESULT_FILES if (folder / name).exists() or (folder / name).is_symlink()]


def check_run_folder(folder: Path, settings: Mapping[str, Any], *, restart: bool = False, label: str | None = None) -> None:
    """Refuse, in one line, to run with ``settings`` into ``folder`` when it holds a run made
    with other settings (or with none recorded); with ``restart``, nothing is refused.
    Reads only; :func:`claim_run_folder` writes."""
    if restart:
        return
    found = holds_results(folder)
    if not found:
        return
    recorded = read_settings(folder)
    fix = "use another --out, or add --restart to replace that run"
    label = label or f"--out {folder}"
    if recorded is None:
        raise ConfigError(f"{label} holds a run ({', '.join(found)}) that records no settings; {fix}")
    difference = first_difference(recorded, _jsonable(dict(settings)))
    if difference is not None:
        where, old, new = difference
        flag = flag_of(where)
        named = f"{where} ({flag})" if flag else where
        raise ConfigError(f"{label} holds a run made with {named} = {_shown(old)}, not {_shown(new)}; {fix}")


def claim_run_folder(folder: Path, settings: Mapping[str, Any], *, restart: bool = False, label: str | None = None) -> None:
    """Check ``folder`` (:func:`check_run_folder`), then record ``settings`` in it before any
    work. With ``restart``, the folder's earlier run is discarded first: its output files
    (:func:`space.remove_run_files`) and the study spikebits keeps there. Call it with the
    folder locked."""
    check_run_folder(folder, settings, restart=restart, label=label)
    if restart:
        discard_run(folder)
    write_settings(folder, settings)


def discard_run(folder: Path) -> None:
    """Remove a run's files from ``folder``: what its ``run.json`` lists, ``timeline.json``,
    the study spikebits keeps there, and ``settings.json``; nothing else."""
    remove_run_files(folder)
    for name in (*STUDY_FILES, "timeline.json", SETTINGS_FILE):
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def write_settings(folder: Path, settings: Mapping[str, Any]) -> None:
    """Write ``settings.json`` into ``folder`` (atomically)."""
    data = {"schema": SETTINGS_SCHEMA, "settings": _jsonable(dict(settings))}
    atomic_write_text(folder / SETTINGS_FILE, json.dumps(data, indent=1, allow_nan=False) + "\n")
