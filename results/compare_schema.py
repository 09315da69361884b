"""``compare.json``'s format: the schema name, the JSON Schema resource, the cross-field
checks a schema cannot state, and reading a file with all of them.

The format is ``compare.schema.json`` beside this module (``spikebits.compare/1``) plus the
checks of :func:`validate_compare`. Every problem is one line of :class:`space.DataError`
naming its place as a JSON path (``$.runs[0].seed``) and saying how to fix it.

The lowest floor of the comparison modules: it imports nothing of theirs
(``compare_stats``, ``compare_figures`` and ``compare_report`` build on it).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from spikebits.space import RECORD_METRICS, BudgetError, DataError, direction, one_line

COMPARE_SCHEMA = "spikebits.compare/1"
#: The JSON Schema file, a resource of this package.
SCHEMA_FILE = "compare.schema.json"
#: Longest jsonschema message kept in a one-line error.
MAX_MESSAGE = 200
#: What to do about a damaged comparison file (the end of every such error).
FIX_HINT = "write it again with spikebits compare"


def load_compare_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``compare.json``, read from the package resource
    ``spikebits.results/compare.schema.json`` (a fresh dict on every call)."""
    text = importlib.resources.files("spikebits.results").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_compare_schema())


def _invalid(source: str, where: str, message: str) -> DataError:
    return DataError(f"{source} is invalid at {where}: {one_line(message, limit=MAX_MESSAGE)}; {FIX_HINT}")


def _check(data: Any, source: str) -> None:
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        raise _invalid(source, error.json_path, error.message)
    for name, stated in data["objectives"].items():
        try:
            expected = direction(name)
        except BudgetError as err:
            raise _invalid(source, f"$.objectives.{name}", str(err)) from None
        if stated != expected:
            raise _invalid(source, f"$.objectives.{name}", f"{name} is to {expected}, not {stated}")
    if set(data["reference_point"]) != set(data["objectives"]):
        raise _invalid(source, "$.reference_point",
                       f"names {', '.join(data['reference_point'])}, not the objectives {', '.join(data['objectives'])}")
    seen: set[tuple[str, int]] = set()
    for i, run in enumerate(data["runs"]):
        where = f"$.runs[{i}]"
        if run["strategy"] not in data["strategies"]:
            raise _invalid(source, f"{where}.strategy", f"{run['strategy']!r} is not one of the strategies")
        if run["seed"] not in data["seeds"]:
            raise _invalid(source, f"{where}.seed", f"{run['seed']} is not one of the seeds")
        key = (run["strategy"], run["seed"])
        if key in seen:
            raise _invalid(source, where, f"a second run of {key[0]} with seed {key[1]}")
        seen.add(key)
        timeline = run["timeline"]
        for j in range(1, len(timeline)):
            before, entry = timeline[j - 1], timeline[j]
            if entry["time_s"] < before["time_s"]:
                raise _invalid(source, f"{where}.timeline[{j}].time_s", "time goes backwards")
            if entry["evaluations"] <= before["evaluations"]:
                raise _invalid(source, f"{where}.timeline[{j}].evaluations", "evaluations do not increase")
            if entry["hypervolume"] < before["hypervolume"]:
                raise _invalid(source, f"{where}.timeline[{j}].hypervolume", "hypervolume decreases")
        for j, point in enumerate(run["front"]):
            unknown = [m for m in point["metrics"] if m not in RECORD_METRICS]
            if unknown:
                raise _invalid(source, f"{where}.front[{j}].metrics", f"unknown metric {unknown[0]!r}")


def validate_compare(data: Mapping[str, Any]) -> None:
    """Check ``data`` against ``compare.schema.json`` and the checks a schema cannot state.

    Those are: every objective is a known metric with its own direction; the reference point
    names exactly the objectives; each run names a listed strategy and seed, and no
    (strategy, seed) pair twice; along a timeline ``time_s`` never decreases, ``evaluations``
    increases and ``hypervolume`` never decreases; front points carry only known metrics.

    Raises :class:`space.DataError` with one line naming the place (a JSON path such as
    ``$.runs[0].seed``) and the first (jsonschema's most relevant) problem.
    """
    _check(data, "compare data")


def read_compare_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, parse and :func:`validate_compare` ``compare.json``; a missing or unreadable
    file, malformed JSON or an invalid document is a one-line :class:`space.DataError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"comparison file {path} does not exist; run spikebits compare first") from None
    except OSError as err:
        raise DataError(f"cannot read comparison file {path} ({err.strerror}); check the path and its permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); {FIX_HINT}") from None
    _check(data, str(path))
    return data
