"""The one strict JSON reader of spikebits: every JSON file it reads (configs, search spaces,
energy presets, and the result files ``run.json``, ``pareto.json``, ``compare.json``,
``timeline.json``) goes through :func:`read_json_file` or, for text already read,
:func:`loads_strict`.

Strict means that anything but one JSON document of finite numbers is a one-line error (a
:class:`ConfigError` by default; result files ask for :class:`DataError`) that names the file
and says what to do:

* the file: a regular file (a folder, a device or a pipe is refused before it is read),
  at most ``limit`` bytes (:func:`space.read_input_bytes`), and with ``follow_symlinks=False``
  not a symbolic link;
* the text: UTF-8;
* the document: valid JSON without ``NaN``, ``Infinity`` or ``-Infinity`` (Python's json
  accepts them), without a number that overflows a float (``1e999``, an integer of 400
  digits), without an integer too long for Python to read (more than
  ``sys.get_int_max_str_digits()`` digits), without a key given twice in one object, and
  nested at most :data:`MAX_DEPTH` levels deep (deeper text never reaches Python's recursion
  limit);
* optionally, a JSON Schema (draft 2020-12, checked with jsonschema): the first failure is
  named by its JSON path (``$.runs[0].hypervolume``).

jsonschema is imported on first use, so that ``import spikebits.space`` stays light.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spikebits.space.errors import ConfigError, SpikebitsError, one_line
from spikebits.space.files import MAX_INPUT_BYTES, read_input_bytes

#: Deepest nesting of arrays and objects read (a spikebits file needs fewer than 10 levels).
MAX_DEPTH = 64
#: Longest jsonschema message kept in a one-line error.
MAX_SCHEMA_MESSAGE = 200
#: What to do about a bad document, where the caller says nothing more specific.
FIX_THE_FILE = "fix the file"


def short_repr(value: Any) -> str:
    """A short one-line rendering of a user's value for an error message."""
    try:
        text = f"{value:g}" if isinstance(value, float) else repr(value)
    except (ValueError, RecursionError):  # an int too long for str(), a list nested too deeply
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


class _Refused(ValueError):
    """Raised inside json.loads by the hooks of :func:`loads_strict`: what is wrong and the
    default of what to do about it."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def _non_finite(token: str) -> float:
    raise _Refused(f"holds a non-finite number ({token})", "write a finite number")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _Refused(f"holds a non-finite number ({token[:40]} overflows a float)", "write a finite number")
    return value


def _finite_int(token: str) -> int:
    try:
        value = int(token)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        raise _Refused("holds an integer too long to read", "write a shorter number") from None
    if len(token) > 300 and _overflows(value):
        raise _Refused(f"holds an integer too large for a number ({len(token.lstrip('-'))} digits)", "write a smaller number")
    return value


def _overflows(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"gives key {short_repr(key)} twice in one object", "keep one")
        out[key] = value
    return out


def _fail(error: type[SpikebitsError], what: str, problem: str, fix: str) -> SpikebitsError:
    """The one-line error ``"WHAT PROBLEM; FIX"``."""
    return error(one_line(f"{what} {problem}; {fix}"))


def decoded_text(text: str | bytes, what: str, language: str = "JSON", *, error: type[SpikebitsError] = ConfigError,
                 fix: str | None = None) -> str:
    """``text``, bytes decoded as UTF-8; other bytes, or neither text nor bytes, a one-line
    ``error`` naming ``what`` (``language``: "JSON", "TOML")."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise _fail(error, what, f"is not UTF-8 text (byte {err.start})", fix or f"save it as UTF-8 {language}") from None
    if not isinstance(text, str):
        raise error(one_line(f"{what} must be {language} text, got {type(text).__name__}"))
    return text


@contextmanager
def parser_limits(what: str, number: str, *, error: type[SpikebitsError] = ConfigError, fix: str | None = None) -> Iterator[None]:
    """Turns what a parser raises past its limits into a one-line ``error`` naming ``what``:
    nesting too deep to read (RecursionError) and a number it cannot convert (ValueError,
    e.g. an integer of more than ``sys.get_int_max_str_digits()`` digits; ``number`` says
    what the file holds then). The parser's own errors are caught inside."""
    try:
        yield
    except RecursionError:
        raise _fail(error, what, "is nested too deeply to read", fix or FIX_THE_FILE) from None
    except ValueError:
        raise _fail(error, what, f"holds {number}", fix or "write a shorter number") from None


def loads_strict(text: str | bytes, what: str, *, error: type[SpikebitsError] = ConfigError, fix: str | None = None,
                 max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, strictly (see the module's docstring): anything but one JSON
    document of finite numbers, without repeated keys, at most ``max_depth`` levels deep, is a
    one-line ``error`` ``"WHAT PROBLEM; FIX"``. ``fix`` says what to do; by default each
    problem says its own ("write a finite number", "fix the file", ...)."""
    text = decoded_text(text, what, error=error, fix=fix)
    with parser_limits(what, "an integer too long to read", error=error, fix=fix):
        try:
            data = json.loads(text, parse_constant=_non_finite, parse_float=_finite_float, parse_int=_finite_int,
                              object_pairs_hook=_unique_keys)
        except _Refused as err:
            raise _fail(error, what, err.problem, fix or err.fix) from None
        except json.JSONDecodeError as err:
            raise _fail(error, what, f"is not valid JSON ({err.msg} at line {err.lineno})", fix or FIX_THE_FILE) from None
    found = first_bad_value(data, max_depth)
    if found is not None:
        where, problem = found
        if problem.startswith("is nested"):
            raise _fail(error, what, f"is nested too deeply to read (more than {max_depth} levels)", fix or FIX_THE_FILE)
        raise _fail(error, what, f"is invalid at {where}: {problem}", fix or FIX_THE_FILE)
    return data


def json_path(parts: tuple[Any, ...]) -> str:
    """``("runs", 0, "seed")`` -> ``$.runs[0].seed`` (jsonschema's way of writing a place)."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and _overflows(value):
        return "an integer too large for a number"
    return None


def first_bad_value(data: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """The first place (a JSON path) in ``data`` that no strict JSON document holds, in
    document order, and what is wrong there: a non-finite float, an integer that overflows a
    float, or arrays and objects nested more than ``max_depth`` levels deep. None when there
    is none. Walks without recursion, so any depth is safe."""
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(data, (), 0)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, Mapping):
            items = list(value.items())
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            problem = _number_problem(value)
            if problem is not None:
                return json_path(parts), problem
            continue
        if depth >= max_depth:
            return json_path(parts), f"is nested more than {max_depth} levels deep"
        stack.extend((item, (*parts, key), depth + 1) for key, item in reversed(items))
    return None


def schema_validator(schema: Mapping[str, Any], *resources: Mapping[str, Any]) -> Any:
    """A draft 2020-12 jsonschema validator of ``schema`` (checked first), which may refer
    (``$ref``) to the ``$id`` of each of ``resources``."""
    import jsonschema
    from referencing import Registry, Resource

    registry: Registry = Registry().with_resources((r["$id"], Resource.from_contents(r)) for r in resources)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_json(data: Any, schema: Any, what: str, *, error: type[SpikebitsError] = ConfigError, fix: str = FIX_THE_FILE,
                  max_depth: int = MAX_DEPTH) -> None:
    """Check ``data`` against ``schema`` (a JSON Schema as a mapping, or a validator from
    :func:`schema_validator`), after :func:`first_bad_value` (numbers finite, nesting at most
    ``max_depth``: a schema's ``number`` takes NaN). The first failure (jsonschema's most
    relevant) is one line: ``"WHAT is invalid at $.runs[0].seed: MESSAGE; FIX"``."""
    from jsonschema.exceptions import best_match

    found = first_bad_value(data, max_depth)
    if found is not None:
        raise _fail(error, what, f"is invalid at {found[0]}: {found[1]}", fix)
    validator = schema_validator(schema) if isinstance(schema, Mapping) else schema
    failure = best_match(validator.iter_errors(data))
    if failure is not None:
        raise _fail(error, what, f"is invalid at {failure.json_path}: {one_line(failure.message, limit=MAX_SCHEMA_MESSAGE)}", fix)


def refuse_link(path: str | os.PathLike[str], what: str, *, hint: str = "check the path",
                error: type[SpikebitsError] = ConfigError) -> None:
    """A one-line ``error`` when ``path`` is a symbolic link (``lstat``; a missing path is
    left to the reader)."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _fail(error, f"{what} {path}", "is a symbolic link, not a file", hint)


def read_json_file(
    path: str | os.PathLike[str],
    what: str,
    *,
    hint: str = "check the path",
    fix: str | None = None,
    limit: int = MAX_INPUT_BYTES,
    schema: Any = None,
    error: type[SpikebitsError] = ConfigError,
    follow_symlinks: bool = True,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The JSON document in the file ``path``, read strictly (see the module's docstring).

    ``what`` names the file in messages ("config file", "comparison file"): a missing,
    unreadable or oversized file, a folder, a device or a pipe (and a symbolic link, with
    ``follow_symlinks=False``) is ``"WHAT PATH ...; HINT"``; bad text, a bad document or a
    ``schema`` failure (a mapping or a :func:`schema_validator`) is ``"WHAT PATH ...; FIX"``.
    Every failure is one line of ``error`` (:class:`ConfigError` by default; result files
    pass :class:`DataError`)."""
    path = Path(path)
    if not follow_symlinks:
        refuse_link(path, what, hint=hint, error=error)
    try:
        raw = read_input_bytes(path, what, hint=hint, limit=limit)
    except ConfigError as err:
        if error is ConfigError:
            raise
        raise error(one_line(err)) from None
    source = f"{what} {path}"
    data = loads_strict(raw, source, error=error, fix=fix, max_depth=max_depth)
    if schema is not None:
        validate_json(data, schema, source, error=error, fix=fix or FIX_THE_FILE, max_depth=max_depth)
    return data
