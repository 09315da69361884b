"""The formats of spikebits' JSON result files, read in one way: each has a JSON Schema
(draft 2020-12) beside this module, and :func:`read_result_json` reads any of them with the
strict reader of :mod:`space.json_input` (a regular file of bounded size, UTF-8, finite
numbers, bounded nesting) and checks it against its schema. Every problem is one line of
:class:`space.DataError` naming the file and, for a schema failure, the place as a JSON path
(``$.runs[0].hypervolume``).

=================  ======================  ==========================================
file               schema resource         read by
=================  ======================  ==========================================
``run.json``       ``run.schema.json``     :func:`results.storage.read_run_json`
``pareto.json``    ``pareto.schema.json``  :func:`results.storage.read_pareto_json`
``timeline.json``  ``timeline.schema.json`` :func:`results.compare_schema.read_timeline_file`
``compare.json``   ``compare.schema.json`` :func:`results.compare_schema.read_compare_json`
=================  ======================  ==========================================

``defs.schema.json`` (``urn:spikebits:defs:1``) holds the parts they share: a front point,
its config, a timeline entry. The checks a schema cannot state that several formats share
(objectives with their own directions, known metric names, a timeline that increases) are
here too.

The lowest floor of the result readers: it imports only ``space``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spikebits.space import (
    RECORD_METRICS,
    BudgetError,
    DataError,
    direction,
    one_line,
    read_json_file,
    schema_validator,
    short_repr,
    validate_json,
)

#: Format name -> its JSON Schema, a resource of this package.
SCHEMA_FILES = {
    "defs": "defs.schema.json",
    "run": "run.schema.json",
    "pareto": "pareto.schema.json",
    "timeline": "timeline.schema.json",
    "compare": "compare.schema.json",
}
#: Largest result file read (a comparison of many long runs is a few MB).
MAX_RESULT_BYTES = 256 << 20
#: Longest message kept in a one-line error.
MAX_MESSAGE = 200


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of format ``name`` (a key of :data:`SCHEMA_FILES`), read from the
    package resource (a fresh dict on every call)."""
    text = importlib.resources.files("spikebits.results").joinpath(SCHEMA_FILES[name]).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def validator(name: str) -> Any:
    """The (cached) jsonschema validator of format ``name``, which resolves references to
    ``defs.schema.json``."""
    return schema_validator(load_schema(name), load_schema("defs"))


def invalid(source: str, where: str, message: str, fix: str) -> DataError:
    """``"SOURCE is invalid at WHERE: MESSAGE; FIX"`` as one line."""
    return DataError(one_line(f"{source} is invalid at {where}: {one_line(message, limit=MAX_MESSAGE)}; {fix}"))


def check_schema_name(data: Any, expected: str, source: str, fix: str) -> None:
    """A document whose ``schema`` is not ``expected`` (another file, or another version of
    this one) is a one-line :class:`DataError` saying which it names."""
    found = data.get("schema") if isinstance(data, dict) else None
    if found != expected:
        raise DataError(one_line(f"{source} has schema {short_repr(found)}, expected {expected!r}; {fix}"))


def validate_result(data: Any, name: str, source: str, fix: str) -> None:
    """Check ``data`` against the schema of format ``name`` (numbers finite, nesting bounded,
    :func:`space.validate_json`); one-line :class:`DataError` naming ``source``."""
    validate_json(data, validator(name), source, error=DataError, fix=fix)


def read_result_json(
    path: str | os.PathLike[str],
    what: str,
    name: str,
    *,
    hint: str,
    fix: str,
    schema_name: str | None = None,
    limit: int = MAX_RESULT_BYTES,
    follow_symlinks: bool = True,
) -> dict[str, Any]:
    """The result file ``path`` of format ``name``, read strictly (:func:`space.read_json_file`)
    and checked against its schema. ``what`` names it in messages ("Pareto file"); ``hint``
    ends a message about the file itself (missing, a folder, too large), ``fix`` one about its
    content. With ``schema_name``, a document naming another schema is refused first, in
    those words. Every failure is one line of :class:`DataError`."""
    data = read_json_file(path, what, hint=hint, fix=fix, limit=limit, error=DataError, follow_symlinks=follow_symlinks)
    source = f"{what} {Path(path)}"
    if schema_name is not None:
        check_schema_name(data, schema_name, source, fix)
    validate_result(data, name, source, fix)
    return data


# --------------------------------------------------------------------- shared checks
def check_directions(objectives: Mapping[str, str], where: str, source: str, fix: str) -> None:
    """Each objective is a known metric with its own direction (``where``: the JSON path
    of the objectives)."""
    for metric, stated in objectives.items():
        try:
            expected = direction(metric)
        except BudgetError as err:
            raise invalid(source, f"{where}.{metric}", str(err), fix) from None
        if stated != expected:
            raise invalid(source, f"{where}.{metric}", f"{metric} is to {expected}, not {stated}", fix)


def check_reference(reference: Mapping[str, Any], objectives: Mapping[str, Any], where: str, source: str, fix: str) -> None:
    """The reference point names exactly the objectives."""
    if set(reference) != set(objectives):
        raise invalid(source, where, f"names {', '.join(reference)}, not the objectives {', '.join(objectives)}", fix)


def check_known_metrics(names: Iterable[str], where: str, source: str, fix: str) -> None:
    """Every name is one of :data:`space.RECORD_METRICS`."""
    unknown = [m for m in names if m not in RECORD_METRICS]
    if unknown:
        raise invalid(source, where, f"unknown metric {short_repr(unknown[0])}", fix)


def check_points(points: Sequence[Mapping[str, Any]], where: str, source: str, fix: str) -> None:
    """Front points (schema-valid) carry only known metrics (``where``: the JSON path of
    the list)."""
    for j, point in enumerate(points):
        check_known_metrics(point["metrics"], f"{where}[{j}].metrics", source, fix)


def check_timeline(timeline: Sequence[Mapping[str, Any]], where: str, source: str, fix: str) -> None:
    """Along a (schema-valid) timeline, ``time_s`` never decreases, ``evaluations``
    increases and ``hypervolume`` never decreases (``where``: the JSON path of the list)."""
    for j in range(1, len(timeline)):
        before, entry = timeline[j - 1], timeline[j]
        if entry["time_s"] < before["time_s"]:
            raise invalid(source, f"{where}[{j}].time_s", "time goes backwards", fix)
        if entry["evaluations"] <= before["evaluations"]:
            raise invalid(source, f"{where}[{j}].evaluations", "evaluations do not increase", fix)
        if entry["hypervolume"] < before["hypervolume"]:
            raise invalid(source, f"{where}[{j}].hypervolume", "hypervolume decreases", fix)
