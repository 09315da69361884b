"""``compare.json``'s format: the schema name, the JSON Schema resource, the cross-field
checks a schema cannot state, and reading a file with all of them.

The format is ``compare.schema.json`` beside this module (``spikebits.compare/1``) plus the
checks of :func:`validate_compare`. Every problem is one line of :class:`space.DataError`
naming its place as a JSON path (``$.runs[0].seed``) and saying how to fix it.

It also reads a comparison run's ``timeline.json`` (:func:`read_timeline_file`), the file
from which ``spikebits compare`` builds each entry of ``runs``. The file formats' schemas and
the checks they share are in :mod:`results.formats`.

The lowest floor of the comparison modules: it imports nothing of theirs
(``compare_stats``, ``compare_figures`` and ``compare_report`` build on it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikebits.space import DataError, one_line, short_repr

from spikebits.results.formats import (
    MAX_MESSAGE,  # noqa: F401  (re-exported by results.compare)
    MAX_RESULT_BYTES,
    check_directions,
    check_points,
    check_reference,
    check_timeline,
    invalid,
    load_schema,
    read_result_json,
    validate_result,
)

COMPARE_SCHEMA = "spikebits.compare/1"
#: The JSON Schema file, a resource of this package.
SCHEMA_FILE = "compare.schema.json"
#: What to do about a damaged comparison file (the end of every such error).
FIX_HINT = "write it again with spikebits compare"
#: What to do about a damaged ``timeline.json`` (the end of every such error).
TIMELINE_FIX = "delete it and run spikebits compare again"


def load_compare_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``compare.json``, read from the package resource
    ``spikebits.results/compare.schema.json`` (a fresh dict on every call). Its shared parts
    (front points, configs, timeline entries) are ``$ref`` s to ``defs.schema.json``
    (``urn:spikebits:defs:1``, :func:`results.formats.load_schema`)."""
    return load_schema("compare")


def _cross_check(data: Mapping[str, Any], source: str) -> None:
    """The checks of :func:`validate_compare` that a schema cannot state (``data`` is schema-valid)."""
    check_directions(data["objectives"], "$.objectives", source, FIX_HINT)
    check_reference(data["reference_point"], data["objectives"], "$.reference_point", source, FIX_HINT)
    seen: set[tuple[str, int]] = set()
    for i, run in enumerate(data["runs"]):
        where = f"$.runs[{i}]"
        if run["strategy"] not in data["strategies"]:
            raise invalid(source, f"{where}.strategy", f"{run['strategy']!r} is not one of the strategies", FIX_HINT)
        if run["seed"] not in data["seeds"]:
            raise invalid(source, f"{where}.seed", f"{run['seed']} is not one of the seeds", FIX_HINT)
        key = (run["strategy"], run["seed"])
        if key in seen:
            raise invalid(source, where, f"a second run of {key[0]} with seed {key[1]}", FIX_HINT)
        seen.add(key)
        check_timeline(run["timeline"], f"{where}.timeline", source, FIX_HINT)
        check_points(run["front"], f"{where}.front", source, FIX_HINT)


def validate_compare(data: Mapping[str, Any]) -> None:
    """Check ``data`` against ``compare.schema.json`` and the checks a schema cannot state.

    Every number must be finite (a schema's ``number`` takes NaN; this does not). The checks
    a schema cannot state are: every objective is a known metric with its own direction; the
    reference point names exactly the objectives; each run names a listed strategy and seed,
    and no (strategy, seed) pair twice; along a timeline ``time_s`` never decreases,
    ``evaluations`` increases and ``hypervolume`` never decreases; front points carry only
    known metrics.

    Raises :class:`space.DataError` with one line naming the place (a JSON path such as
    ``$.runs[0].seed``) and the first (jsonschema's most relevant) problem.
    """
    validate_result(data, "compare", "compare data", FIX_HINT)
    _cross_check(data, "compare data")


def read_compare_json(path: str | os.PathLike[str], *, limit: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """Read ``compare.json`` strictly (:func:`results.formats.read_result_json`: a regular
    file of at most ``limit`` bytes, UTF-8, finite numbers, bounded nesting) and
    :func:`validate_compare` it; every failure is a one-line :class:`space.DataError`."""
    data = read_result_json(path, "comparison file", "compare", hint="run spikebits compare first", fix=FIX_HINT, limit=limit)
    _cross_check(data, f"comparison file {Path(path)}")
    return data


def read_timeline_file(
    path: str | os.PathLike[str],
    *,
    strategy: str | None = None,
    seed: int | None = None,
    limit: int = MAX_RESULT_BYTES,
) -> dict[str, Any]:
    """A finished comparison run's ``timeline.json`` (written by ``search.compare.run_one``),
    read strictly and checked against ``timeline.schema.json``: ``strategy`` (str), ``seed``
    (int), ``state`` ``"complete"``, ``wall_time_s``, ``evaluations`` (int),
    ``feasible_fraction`` in [0, 1], ``hypervolume`` (finite, ≥ 0), ``timeline`` (entries
    ``{time_s, evaluations, hypervolume}``, increasing as in compare.json) and ``front``
    (pareto.json's points, known metrics only).

    The file must be a regular file and not a symbolic link (``lstat``), so a file linked in
    from another run's folder is never filed under this one; with ``strategy`` and ``seed``
    the file must name them. Every failure (a missing file included) is a one-line
    :class:`space.DataError` ending in "delete it and run spikebits compare again".
    """
    data = read_result_json(path, "timeline file", "timeline", hint=TIMELINE_FIX, fix=TIMELINE_FIX, limit=limit,
                            follow_symlinks=False)
    source = f"timeline file {Path(path)}"
    check_timeline(data["timeline"], "$.timeline", source, TIMELINE_FIX)
    check_points(data["front"], "$.front", source, TIMELINE_FIX)
    if strategy is not None and data["strategy"] != strategy:
        raise DataError(one_line(f"{source} names strategy {short_repr(data['strategy'])}, not {strategy!r}; {TIMELINE_FIX}"))
    if seed is not None and data["seed"] != seed:
        raise DataError(one_line(f"{source} names seed {data['seed']}, not {seed}; {TIMELINE_FIX}"))
    return data
