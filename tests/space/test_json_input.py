"""The one strict JSON reader (space.json_input): what it refuses, in one line each, with the
error type and the advice its caller asks for."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from spikebits.space import (
    MAX_DEPTH,
    Config,
    ConfigError,
    DataError,
    LayerChoice,
    SearchSpace,
    first_bad_value,
    loads_strict,
    read_json_file,
    schema_validator,
    validate_json,
)

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["runs"],
    "properties": {"runs": {"type": "array", "items": {"type": "object", "properties": {"hypervolume": {"type": "number"}}}}},
}


def message(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert text and "\n" not in text, repr(text)
    return text


@pytest.mark.parametrize(("text", "words"), [
    ("NaN", "thing holds a non-finite number (NaN); write a finite number"),
    ('{"a": [1, Infinity]}', "thing holds a non-finite number (Infinity); write a finite number"),
    ('{"a": -Infinity}', "thing holds a non-finite number (-Infinity); write a finite number"),
    ('{"a": 1e999}', "thing holds a non-finite number (1e999 overflows a float); write a finite number"),
    ("9" * 5000, "thing holds an integer too long to read; write a shorter number"),
    ("-" + "9" * 400, "thing holds an integer too large for a number (400 digits); write a smaller number"),
    ('{"a": 1, "a": 2}', "thing gives key 'a' twice in one object; keep one"),
    ("[" * 10_000 + "]" * 10_000, "thing is nested too deeply to read; fix the file"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"thing is nested too deeply to read (more than {MAX_DEPTH} levels); fix the file"),
    ('{"a": ', "thing is not valid JSON (Expecting value at line 1); fix the file"),
    (b'["\xff"]', "thing is not UTF-8 text (byte 2); save it as UTF-8 JSON"),
    (12, "thing must be JSON text, got int"),
])
def test_loads_strict_refuses_in_one_line(text: str | bytes, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        loads_strict(text, "thing")
    assert message(err) == words


def test_loads_strict_keeps_ordinary_documents_up_to_the_depth_cap() -> None:
    assert loads_strict('{"a": [1, 2.5, -3e-7, null, true, "x", 1e308]}', "f") == {"a": [1, 2.5, -3e-7, None, True, "x", 1e308]}
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_strict(deep, "f") == json.loads(deep)
    assert loads_strict("9" * 300, "f") == int("9" * 300)


def test_the_caller_chooses_the_error_type_and_the_advice() -> None:
    with pytest.raises(DataError) as err:
        loads_strict('{"hv": NaN}', "compare.json", error=DataError, fix="write it again")
    assert message(err) == "compare.json holds a non-finite number (NaN); write it again"
    assert not isinstance(err.value, ConfigError)


def test_first_bad_value_names_the_first_place_in_document_order() -> None:
    data = {"a": [1, {"b": math.nan}], "c": math.inf}
    assert first_bad_value(data) == ("$.a[1].b", "nan is not a finite number")
    assert first_bad_value({"x": 10**400}) == ("$.x", "an integer too large for a number")
    deep: list = []
    for _ in range(100):
        deep = [deep]
    assert first_bad_value({"d": deep})[1] == f"is nested more than {MAX_DEPTH} levels deep"
    assert first_bad_value({"ok": [1.5, None, True, "s"]}) is None


def test_validate_json_names_the_json_path_and_refuses_nan_the_schema_takes() -> None:
    with pytest.raises(DataError) as err:
        validate_json({"runs": [{"hypervolume": 1.0}, {"hypervolume": "x"}]}, SCHEMA, "compare.json", error=DataError, fix="write it again")
    assert message(err) == "compare.json is invalid at $.runs[1].hypervolume: 'x' is not of type 'number'; write it again"
    with pytest.raises(ConfigError) as err:
        validate_json({"runs": [{"hypervolume": math.nan}]}, schema_validator(SCHEMA), "f")
    assert message(err) == "f is invalid at $.runs[0].hypervolume: nan is not a finite number; fix the file"


def test_read_json_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"runs": [{"hypervolume": 2}]}')
    assert read_json_file(path, "comparison file", schema=SCHEMA) == {"runs": [{"hypervolume": 2}]}
    path.write_text('{"runs": [{"hypervolume": NaN}]}')
    with pytest.raises(DataError) as err:
        read_json_file(path, "comparison file", error=DataError, fix="write it again")
    assert message(err) == f"comparison file {path} holds a non-finite number (NaN); write it again"
    path.write_text('{"runs": 3}')
    with pytest.raises(ConfigError) as err:
        read_json_file(path, "comparison file", schema=SCHEMA)
    assert message(err) == f"comparison file {path} is invalid at $.runs: 3 is not of type 'array'; fix the file"
    with pytest.raises(DataError, match="more than the 4-byte limit; look elsewhere$"):
        read_json_file(path, "comparison file", limit=4, error=DataError, hint="look elsewhere")
    (tmp_path / "link.json").symlink_to(path)
    assert read_json_file(tmp_path / "link.json", "f") == {"runs": 3}
    with pytest.raises(DataError) as err:
        read_json_file(tmp_path / "link.json", "timeline file", error=DataError, follow_symlinks=False, hint="delete it")
    assert message(err) == f"timeline file {tmp_path / 'link.json'} is a symbolic link, not a file; delete it"


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing"])
def test_read_json_file_refuses_what_is_not_a_file_before_reading(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # read_input_bytes refuses it from stat(): opening it would block
    with pytest.raises(DataError) as err:
        read_json_file(path, "run file", error=DataError)
    assert message(err).startswith(f"run file {path} ")


def test_configs_and_spaces_read_files_through_the_same_reader(tmp_path: Path) -> None:
    config = Config({"a": LayerChoice(4, 2, 1)})
    (tmp_path / "config.json").write_text(config.to_json())
    assert Config.from_file(tmp_path / "config.json") == config
    (tmp_path / "bad.json").write_text('{"layers": {"a": {"w_bits": NaN, "s_bits": 2, "timesteps": 1}}}')
    with pytest.raises(ConfigError) as err:
        Config.from_file(tmp_path / "bad.json")
    assert message(err) == f"config file {tmp_path / 'bad.json'} holds a non-finite number (NaN); write a finite number"
    space = SearchSpace.from_json('{"layers": {"a": {}, "b": {}}}')
    (tmp_path / "space.json").write_text(space.to_json())
    assert SearchSpace.from_file(tmp_path / "space.json") == space
    with pytest.raises(ConfigError, match="space file .* is a folder, not a file"):
        SearchSpace.from_file(tmp_path)
