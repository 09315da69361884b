"""Output files of a run: ``pareto.json``, ``trials.csv``, ``run.json`` (and the atomic writer
that ``pareto.png`` goes through too).

Every file is written atomically with :func:`space.atomic_write_bytes` (temporary file in the
same folder, fsync, ``os.replace``): a reader sees either the old file or the new one, and a
failed write leaves an existing file untouched.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spikebits.space import METRICS, RECORD_METRICS, Budget, Config, DataError, atomic_write_text, direction

from spikebits.results.records import TrialRecord, to_jsonable

PARETO_SCHEMA = "spikebits.pareto/1"
#: Columns of ``trials.csv`` before the metric columns.
TRIAL_COLUMNS: tuple[str, ...] = ("number", "state", "feasible", "strategy", "wall_time_s")
VIOLATION_PREFIX = "violation."
def _read_text(path: str | os.PathLike[str], what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist; check the run folder") from None
    except OSError as err:
        raise DataError(f"cannot read {what} {path} ({err.strerror}); check the path and its permissions") from None


# --------------------------------------------------------------------- pareto.json
def pareto_point(record: TrialRecord) -> dict[str, Any]:
    """One entry of ``pareto.json``'s ``points``."""
    return {
        "config": None if record.config is None else record.config.to_dict(),
        "metrics": to_jsonable(record.metrics),
        "strategy": record.strategy,
        "feasible": record.feasible,
        "number": record.number,
    }


def write_pareto_json(
    path: str | os.PathLike[str],
    front: Sequence[TrialRecord],
    *,
    objectives: Sequence[str],
    budget: Budget,
    reference: Mapping[str, float],
    hypervolume: float,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``pareto.json``::

        {"schema": "spikebits.pareto/1", "objectives": {name: "maximize"|"minimize"},
         "budget": {metric: limit}, "reference_point": {metric: value}, "hypervolume": float,
         "points": [{"config": {"layers": {...}}, "metrics": {...}, "strategy": "...",
                     "feasible": true, "number": N}]}

    ``extra`` adds top-level keys after these (it may not replace one of them).
    """
    data: dict[str, Any] = {
        "schema": PARETO_SCHEMA,
        "objectives": {m: direction(m) for m in objectives},
        "budget": budget.to_dict(),
        "reference_point": {m: float(reference[m]) for m in objectives},
        "hypervolume": float(hypervolume),
        "points": [pareto_point(r) for r in front],
    }
    for key, value in (extra or {}).items():
        if key in data:
            raise ValueError(f"extra key {key!r} would replace a pareto.json field; rename it")
        data[key] = to_jsonable(value)
    atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")


def read_pareto_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``pareto.json`` back as a dict, checking its schema and its required keys."""
    text = _read_text(path, "Pareto file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); write it again") from None
    if not isinstance(data, dict) or data.get("schema") != PARETO_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise DataError(f"{path} has schema {found!r}, expected {PARETO_SCHEMA!r}; is it a spikebits pareto.json?")
    required = ("objectives", "budget", "reference_point", "hypervolume", "points")
    missing = [k for k in required if k not in data]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; write it again")
    return data


def pareto_records(data: Mapping[str, Any]) -> list[TrialRecord]:
    """The points of a :func:`read_pareto_json` dict as COMPLETE :class:`TrialRecord`s
    (wall time unknown: NaN), for example to merge the fronts of several runs."""
    records = []
    for point in data["points"]:
        config = point.get("config")
        records.append(
            TrialRecord(
                number=point.get("number", len(records)),
                config=None if config is None else Config.from_dict(config),
                metrics=point.get("metrics", {}),
                strategy=point.get("strategy", ""),
                wall_time_s=math.nan,
                feasible=point.get("feasible", True),
            )
        )
    return records


# --------------------------------------------------------------------- trials.csv
#: The columns a search with one-shot scoring adds to ``trials.csv`` (after ``repaired_from``).
SCORING_COLUMNS: tuple[str, ...] = ("scoring", "one_shot_accuracy")


def trials_columns(records: Iterable[TrialRecord]) -> list[str]:
    """Header of ``trials.csv``: number, state, feasible, strategy, wall_time_s, every metric
    of :data:`space.RECORD_METRICS` in order (``accuracy``, then ``test_accuracy``, then the
    rest), ``violation.<metric>`` for each budget metric any record carries (in METRICS order), config, error, repaired_from (the number of the sampled trial
    whose config broke a data-free budget and was repaired into this one; empty otherwise), and
    in a search with one-shot scoring (records with ``info["scoring"]``) ``scoring`` (how the
    row's accuracy was measured: ``one-shot`` or ``finetune``) and ``one_shot_accuracy`` (a
    fine-tuned front point's one-shot score)."""
    records = list(records)
    present = {m for r in records for m in r.violations}
    scored = any("scoring" in r.info for r in records)
    return [
        *TRIAL_COLUMNS,
        *RECORD_METRICS,
        *(VIOLATION_PREFIX + m for m in METRICS if m in present),
        "config",
        "error",
        "repaired_from",
        *(SCORING_COLUMNS if scored else ()),
    ]


def _cell(value: float | None) -> str:
    """A number as its shortest exact text (``repr``); missing or NaN as an empty cell."""
    if value is None or math.isnan(value):
        return ""
    return repr(float(value))


def write_trials_csv(path: str | os.PathLike[str], records: Sequence[TrialRecord]) -> None:
    """Write ``trials.csv``: one row per trial, columns as in :func:`trials_columns`."""
    columns = trials_columns(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        row: dict[str, str] = {
            "number": str(r.number),
            "state": r.state,
            "feasible": "true" if r.feasible else "false",
            "strategy": r.strategy,
            "wall_time_s": _cell(r.wall_time_s),
            "config": "" if r.config is None else json.dumps(r.config.to_dict(), separators=(",", ":")),
            "error": r.error or "",
            "repaired_from": "" if r.info.get("repaired_from") is None else str(int(r.info["repaired_from"])),
            "scoring": str(r.info.get("scoring", "")),
            "one_shot_accuracy": _cell(r.info.get("one_shot_accuracy")),
        }
        for m in RECORD_METRICS:
            row[m] = _cell(r.metrics.get(m))
        for m, v in r.violations.items():
            row[VIOLATION_PREFIX + m] = _cell(v)
        writer.writerow([row.get(c, "") for c in columns])
    atomic_write_text(path, buffer.getvalue())


def _parse_float(text: str) -> float | None:
    return None if text == "" else float(text)


def read_trials_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read ``trials.csv`` back: one dict per row, typed (int number, bool feasible, float or
    ``None`` for numbers, the config as a dict or ``None``, the error as a str or ``None``)."""
    text = _read_text(path, "trials file")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if list(header[: len(TRIAL_COLUMNS)]) != list(TRIAL_COLUMNS) or "config" not in header:
        raise DataError(f"{path} does not start with the trials.csv header {','.join(TRIAL_COLUMNS)}; write it again")
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):
        try:
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "number":
                    row[key] = int(value)
                elif key == "feasible":
                    if value not in ("true", "false"):
                        raise ValueError(f"feasible is {value!r}, not true/false")
                    row[key] = value == "true"
                elif key in ("state", "strategy", "scoring"):
                    row[key] = value
                elif key == "config":
                    row[key] = json.loads(value) if value else None
                elif key == "error":
                    row[key] = value or None
                elif key == "repaired_from":
                    row[key] = int(value) if value else None
                else:
                    row[key] = _parse_float(value)
        except (TypeError, ValueError) as err:
            raise DataError(f"{path} line {line} is malformed ({err}); write the file again") from None
        rows.append(row)
    return rows


def read_trial_records(path: str | os.PathLike[str]) -> list[TrialRecord]:
    """``trials.csv`` read back as :class:`TrialRecord` s (info, which the file does not hold,
    left empty but for the scoring columns; a missing wall time is NaN)."""
    records = []
    for row in read_trials_csv(path):
        records.append(
            TrialRecord(
                number=row["number"],
                config=None if row["config"] is None else Config.from_dict(row["config"]),
                metrics={m: row[m] for m in RECORD_METRICS if row.get(m) is not None},
                strategy=row["strategy"],
                wall_time_s=math.nan if row["wall_time_s"] is None else row["wall_time_s"],
                feasible=row["feasible"],
                state=row["state"],
                violations={k[len(VIOLATION_PREFIX):]: v for k, v in row.items() if k.startswith(VIOLATION_PREFIX) and v is not None},
                error=row["error"],
                info={k: row[k] for k in SCORING_COLUMNS if row.get(k) not in (None, "")},
            )
        )
    return records


# --------------------------------------------------------------------- run.json
def write_run_json(path: str | os.PathLike[str], info: Mapping[str, Any]) -> None:
    """Write ``run.json`` (strategy, seed, space, versions, wall time, ...): indent 2, keys in
    the given order, values made JSON-able by :func:`results.records.to_jsonable`."""
    atomic_write_text(path, json.dumps(to_jsonable(info), indent=2, sort_keys=False, allow_nan=False) + "\n")
