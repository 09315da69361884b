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
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spikebits.space import (
    METRICS,
    RECORD_METRICS,
    Budget,
    Config,
    ConfigError,
    DataError,
    atomic_write_text,
    direction,
    loads_strict,
    one_line,
    read_input_bytes,
    short_repr,
)

from spikebits.results.formats import MAX_RESULT_BYTES, check_directions, check_known_metrics, check_points, check_reference, read_result_json
from spikebits.results.records import STATES, TrialRecord, to_jsonable

PARETO_SCHEMA = "spikebits.pareto/1"
#: Columns of ``trials.csv`` before the metric columns.
TRIAL_COLUMNS: tuple[str, ...] = ("number", "state", "feasible", "strategy", "wall_time_s")
VIOLATION_PREFIX = "violation."
#: What to do about a damaged output file of a search (the end of every such error).
SEARCH_FIX = "write it again with spikebits search"
RUN_SCHEMA = "spikebits.run/1"


def _read_text(path: str | os.PathLike[str], what: str, limit: int) -> str:
    """The UTF-8 text of the regular file ``path`` of at most ``limit`` bytes
    (:func:`space.read_input_bytes`), every failure a one-line :class:`DataError`."""
    try:
        data = read_input_bytes(path, what, hint="check the run folder", limit=limit)
    except ConfigError as err:
        raise DataError(one_line(err)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(one_line(f"{what} {path} is not UTF-8 text (byte {err.start}); {SEARCH_FIX}")) from None


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


def read_pareto_json(path: str | os.PathLike[str], *, limit: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """Read ``pareto.json`` strictly (:func:`results.formats.read_result_json`: a regular
    file of at most ``limit`` bytes, UTF-8, finite numbers, bounded nesting) and check it
    against ``pareto.schema.json``: objectives map known metrics to their own directions,
    budget and reference point map metrics to numbers, the hypervolume is a number ≥ 0, and
    each point has an integer number, metrics (known ones, numbers or null), a config
    (or null), a boolean feasible and a strategy. Every failure is a one-line
    :class:`space.DataError`."""
    data = read_result_json(path, "Pareto file", "pareto", hint="check the run folder", fix=SEARCH_FIX,
                            schema_name=PARETO_SCHEMA, limit=limit)
    source = f"Pareto file {Path(path)}"
    check_directions(data["objectives"], "$.objectives", source, SEARCH_FIX)
    check_reference(data["reference_point"], data["objectives"], "$.reference_point", source, SEARCH_FIX)
    check_known_metrics(data["budget"], "$.budget", source, SEARCH_FIX)
    check_points(data["points"], "$.points", source, SEARCH_FIX)
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


#: A whole number as trials.csv writes it (no sign, at most 18 digits: never too long to read).
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def _whole(key: str, text: str) -> int:
    if not WHOLE_NUMBER.fullmatch(text):
        raise ValueError(f"{key} is {short_repr(text)}, not a whole number")
    return int(text)


def _finite(key: str, text: str) -> float | None:
    """A number cell: empty -> None; anything but a finite number (``nan``, ``inf``, words,
    an integer too long to read) is refused."""
    if text == "":
        return None
    try:
        value = float(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{key} is {short_repr(text)}, not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{key} is {short_repr(text)}, not a finite number")
    return value


def _typed_cell(key: str | None, value: str | list[str] | None) -> Any:
    """One cell of ``trials.csv`` typed as its column says (a ValueError says what is wrong)."""
    if key is None:
        raise ValueError("the row has more cells than the header")
    if not isinstance(value, str):
        raise ValueError("the row has fewer cells than the header")
    if key == "number":
        return _whole(key, value)
    if key == "repaired_from":
        return _whole(key, value) if value else None
    if key == "feasible":
        if value not in ("true", "false"):
            raise ValueError(f"feasible is {short_repr(value)}, not true/false")
        return value == "true"
    if key == "state":
        if value not in STATES:
            raise ValueError(f"state is {short_repr(value)}, not one of {', '.join(STATES)}")
        return value
    if key in ("strategy", "scoring"):
        return value
    if key == "error":
        return value or None
    if key == "config":
        try:
            return loads_strict(value, "the config", error=DataError) if value else None
        except DataError as err:
            raise ValueError(str(err).partition(";")[0]) from None
    return _finite(key, value)


def _check_trials_header(path: str | os.PathLike[str], header: Sequence[str]) -> None:
    if list(header[: len(TRIAL_COLUMNS)]) != list(TRIAL_COLUMNS):
        raise DataError(one_line(f"{path} does not start with the trials.csv header {','.join(TRIAL_COLUMNS)}; {SEARCH_FIX}"))
    missing = [name for name in ("config", "error") if name not in header]
    if missing:
        raise DataError(one_line(f"{path} lacks the trials.csv column {', '.join(missing)}; {SEARCH_FIX}"))
    for name in header:
        if name.startswith(VIOLATION_PREFIX) and name[len(VIOLATION_PREFIX):] not in RECORD_METRICS:
            raise DataError(one_line(f"{path} has column {short_repr(name)}, which names no metric; {SEARCH_FIX}"))


def read_trials_csv(path: str | os.PathLike[str], *, limit: int = MAX_RESULT_BYTES) -> list[dict[str, Any]]:
    """Read ``trials.csv`` back: one dict per row, typed (int number, bool feasible, a known
    state, finite float or ``None`` (an empty cell) for numbers, the config as a dict (read
    strictly, :func:`space.loads_strict`) or ``None``, the error as a str or ``None``).

    A regular file of at most ``limit`` bytes in UTF-8; a bad header, a bad cell (``nan`` or
    ``inf`` where a number goes, a whole number too long to read, an unknown state), a row
    with more or fewer cells than the header: a one-line :class:`space.DataError` naming the
    line."""
    text = _read_text(path, "trials file", limit)
    reader = csv.DictReader(io.StringIO(text))
    rows: list[dict[str, Any]] = []
    line = 1
    try:
        _check_trials_header(path, reader.fieldnames or [])
        for raw in reader:
            line = reader.line_num
            rows.append({key: _typed_cell(key, value) for key, value in raw.items()})
    except ValueError as err:
        raise DataError(one_line(f"{path} line {line} is malformed ({err}); {SEARCH_FIX}")) from None
    except csv.Error as err:
        raise DataError(one_line(f"{path} is not a CSV file ({err}); {SEARCH_FIX}")) from None
    return rows


def read_trial_records(path: str | os.PathLike[str], *, limit: int = MAX_RESULT_BYTES) -> list[TrialRecord]:
    """``trials.csv`` read back as :class:`TrialRecord` s (info, which the file does not hold,
    left empty but for the scoring columns; a missing wall time is NaN). A row that makes no
    record (a config that is no config) is a one-line :class:`space.DataError`."""
    records = []
    for index, row in enumerate(read_trials_csv(path, limit=limit)):
        try:
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
        except (ConfigError, TypeError, ValueError) as err:
            raise DataError(one_line(f"{path} row {index + 1} is malformed ({err}); {SEARCH_FIX}")) from None
    return records


# --------------------------------------------------------------------- run.json
def write_run_json(path: str | os.PathLike[str], info: Mapping[str, Any]) -> None:
    """Write ``run.json`` (strategy, seed, space, versions, wall time, ...): indent 2, keys in
    the given order, values made JSON-able by :func:`results.records.to_jsonable`."""
    atomic_write_text(path, json.dumps(to_jsonable(info), indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_run_json(path: str | os.PathLike[str], *, limit: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """Read ``run.json`` strictly (:func:`results.formats.read_result_json`: a regular file of
    at most ``limit`` bytes, UTF-8, finite numbers, bounded nesting) and check it against
    ``run.schema.json``: the schema ``spikebits.run/1`` is required, and each key the runner
    writes has its type where present (``seed`` and ``n_trials`` integers, ``trials`` a
    mapping of integers, ``hypervolume`` and ``wall_time_s`` numbers ≥ 0, ``strategy`` and
    ``executor`` objects with a ``name``, the differentiable strategy's supernet runs with a
    target and a history, ...). Every failure is a one-line :class:`space.DataError`."""
    return read_result_json(path, "run file", "run", hint="check the run folder", fix=SEARCH_FIX,
                            schema_name=RUN_SCHEMA, limit=limit)
