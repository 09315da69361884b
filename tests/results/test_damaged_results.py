"""Every result file spikebits reads back (run.json, pareto.json, compare.json, timeline.json,
trials.csv), damaged in every way an outside pass found: each damage is one line of
DataError that names the file and says what to do, never another exception; ``spikebits
report`` on a damaged folder exits with 2 and one stderr line; a NaN run never wins."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import math
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikebits.results import (
    TrialRecord,
    pareto_records,
    read_pareto_json,
    read_run_json,
    read_timeline_file,
    read_trial_records,
    write_pareto_json,
    write_trials_csv,
)
from spikebits.results.compare import format_report_md, read_compare_json, summarize, validate_compare, winner
from spikebits.search.cli import main
from spikebits.space import Budget, Config, DataError, LayerChoice, SpikebitsError

#: pytest-timeout's mark where the plugin is installed (the FIFO case also guards itself).
TIMEOUT = pytest.mark.timeout(20) if importlib.util.find_spec("pytest_timeout") else (lambda f: f)

LAYERS = {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"},
          "fc": {"w_bits": 2, "s_bits": 1, "timesteps": 2, "scheme": "pow2"}}


def point(number: int, accuracy: float, bit_budget: float, strategy: str) -> dict[str, Any]:
    return {"config": {"layers": copy.deepcopy(LAYERS)}, "metrics": {"accuracy": accuracy, "bit_budget": bit_budget},
            "strategy": strategy, "feasible": True, "number": number}


def timeline_doc(strategy: str = "nsga2", seed: int = 0, hv: float = 3.0) -> dict[str, Any]:
    return {
        "strategy": strategy, "seed": seed, "state": "complete", "wall_time_s": 4.5, "evaluations": 3,
        "feasible_fraction": 0.5, "hypervolume": hv,
        "timeline": [{"time_s": 1.0, "evaluations": 1, "hypervolume": 0.0},
                     {"time_s": 2.0, "evaluations": 2, "hypervolume": hv / 2},
                     {"time_s": 3.0, "evaluations": 3, "hypervolume": hv}],
        "front": [point(0, 0.5, 2.0, strategy), point(2, 0.75, 4.0, strategy)],
    }


def compare_doc() -> dict[str, Any]:
    runs = [{**timeline_doc(s, seed, hv), "folder": f"runs/{s}/seed-{seed}"}
            for s, seed, hv in (("nsga2", 0, 3.0), ("nsga2", 1, 3.5), ("random", 0, 2.0), ("random", 1, 2.5))]
    return {
        "schema": "spikebits.compare/1", "created": "2026-11-29T01:20:00Z", "command": ["spikebits", "compare"],
        "model": "digits_cnn", "dataset": "digits", "objectives": {"accuracy": "maximize", "bit_budget": "minimize"},
        "budget": {"bit_budget": 6.0}, "reference_point": {"accuracy": 0.0, "bit_budget": 8.0},
        "evaluation_budget": {"evaluations": 3}, "seeds": [0, 1], "strategies": ["nsga2", "random"],
        "versions": {"python": "3.11.7"}, "runs": runs,
    }


def pareto_doc() -> dict[str, Any]:
    return {
        "schema": "spikebits.pareto/1", "objectives": {"accuracy": "maximize", "bit_budget": "minimize"},
        "budget": {"bit_budget": 6.0}, "reference_point": {"accuracy": 0.0, "bit_budget": 8.0}, "hypervolume": 3.0,
        "points": [point(0, 0.5, 2.0, "nsga2"), point(2, 0.75, 4.0, "nsga2")],
        "energy": {"model": "horowitz45nm", "datapath": "multiply", "basis": "estimate"},
    }


def run_doc() -> dict[str, Any]:
    return {
        "schema": "spikebits.run/1",
        "strategy": {"name": "differentiable", "seed": 0, "runs": [
            {"target": {"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0},
             "history": [{"step": 0, "epoch": 0.0, "w_bits": 4.0, "s_bits": 4.0, "timesteps": 2.0},
                         {"step": 1, "epoch": 0.5, "w_bits": 3.0, "s_bits": None, "timesteps": 1.5}]}]},
        "executor": {"name": "local", "early_stop": False}, "seed": 0, "n_trials": 4,
        "objectives": ["accuracy", "bit_budget"], "budget": {"bit_budget": 6.0}, "space": {"layers": {}},
        "evaluator": {"model": "digits_cnn"}, "trials": {"COMPLETE": 3, "FAIL": 1}, "feasible_trials": 2,
        "pareto_points": 2, "hypervolume": 3.0, "reference_point": {"accuracy": 0.0, "bit_budget": 8.0},
        "wall_time_s": 12.5, "interrupted": None, "versions": {"python": "3.11.7"}, "environment": {"threads": 2},
        "command": ["spikebits", "search"], "files": ["pareto.json", "run.json", "trials.csv"],
    }


#: Format -> (reader, valid document, file name, the words that name the file in messages,
#: a number inside the document, a number nested deeper).
FORMATS: dict[str, tuple[Callable[..., Any], Callable[[], dict[str, Any]], str, str, tuple, tuple]] = {
    "run": (read_run_json, run_doc, "run.json", "run file", ("hypervolume",), ("strategy", "runs", 0, "target", "w_bits")),
    "pareto": (read_pareto_json, pareto_doc, "pareto.json", "Pareto file", ("hypervolume",), ("points", 1, "metrics", "accuracy")),
    "compare": (read_compare_json, compare_doc, "compare.json", "comparison file", ("runs", 0, "hypervolume"),
                ("runs", 2, "timeline", 1, "hypervolume")),
    "timeline": (read_timeline_file, timeline_doc, "timeline.json", "timeline file", ("hypervolume",), ("timeline", 0, "time_s")),
}


#: Format -> what every message about its content says to do.
FIXES = {"run": "write it again with spikebits search", "pareto": "write it again with spikebits search",
         "compare": "write it again with spikebits compare", "timeline": "delete it and run spikebits compare again"}


def put(doc: Any, path: tuple, value: Any) -> Any:
    """``doc`` (a copy) with ``value`` at ``path``."""
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def text_with(doc: dict[str, Any], path: tuple, raw: str) -> str:
    """``doc`` as JSON text with the JSON text ``raw`` at ``path``."""
    return json.dumps(put(doc, path, "@@RAW@@")).replace('"@@RAW@@"', raw)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    return message


@pytest.mark.parametrize("name", FORMATS)
def test_each_valid_file_reads_back(tmp_path: Path, name: str) -> None:
    read, make, file, *_ = FORMATS[name]
    (tmp_path / file).write_text(json.dumps(make(), indent=1))
    assert read(tmp_path / file) == make()


# --------------------------------------------------------------------- the table of damage
def _text_damage(name: str) -> list[tuple[str, Callable[[], str | bytes], list[str]]]:
    _, make, _, _, number, nested = FORMATS[name]
    doc = make()
    return [
        ("NaN", lambda: text_with(doc, number, "NaN"), ["non-finite number (NaN)"]),
        ("Infinity", lambda: text_with(doc, nested, "Infinity"), ["non-finite number (Infinity)"]),
        ("-Infinity", lambda: text_with(doc, number, "-Infinity"), ["non-finite number (-Infinity)"]),
        ("1e999", lambda: text_with(doc, nested, "1e999"), ["1e999 overflows a float"]),
        ("integer of 5000 digits", lambda: text_with(doc, number, "9" * 5000), ["integer too long to read"]),
        ("integer of 400 digits", lambda: text_with(doc, nested, "9" * 400), ["integer too large", "400 digits"]),
        ("nesting 10000 deep", lambda: text_with(doc, number, "[" * 10_000 + "]" * 10_000), ["nested too deeply"]),
        ("nesting 100 deep", lambda: text_with(doc, number, "[" * 100 + "]" * 100), ["nested too deeply", "64 levels"]),
        ("not UTF-8", lambda: json.dumps(doc).encode().replace(b"accuracy", b"acc\xffracy", 1), ["not UTF-8 text"]),
        ("truncated", lambda: json.dumps(doc)[:-7], ["is not valid JSON"]),
        ("empty", lambda: "", ["is not valid JSON"]),
        ("a key twice", lambda: json.dumps(doc)[:-1] + ', "' + next(iter(doc)) + '": 1}', ["twice in one object"]),
        ("a list", lambda: "[1, 2]", ["has schema None"] if name in ("run", "pareto") else ["is invalid at $: [1, 2] is not of type 'object'"]),
    ]


#: Format -> (path, value, words of the one-line error): wrong types and values.
WRONG = {
    "run": [
        (("schema",), "spikebits.run/2", ["has schema 'spikebits.run/2', expected 'spikebits.run/1'"]),
        (("seed",), "0", ["at $.seed:", "'0' is not of type 'integer'"]),
        (("trials", "COMPLETE"), 2.5, ["at $.trials.COMPLETE:", "not of type 'integer'"]),
        (("strategy",), 5, ["at $.strategy:", "not of type 'object'"]),
        (("strategy", "runs", 0, "target", "w_bits"), "2", ["at $.strategy.runs[0].target.w_bits:"]),
        (("strategy", "runs", 0, "history", 1, "epoch"), None, ["at $.strategy.runs[0].history[1].epoch:"]),
        (("hypervolume",), -1.0, ["at $.hypervolume:", "less than the minimum of 0"]),
        (("files",), "run.json", ["at $.files:"]),
    ],
    "pareto": [
        (("schema",), None, ["has schema None, expected 'spikebits.pareto/1'"]),
        (("hypervolume",), "x", ["at $.hypervolume:", "'x' is not of type 'number'"]),
        (("points", 0, "metrics", "accuracy"), "x", ["at $.points[0].metrics.accuracy:"]),
        (("points", 0, "config"), 5, ["at $.points[0].config:"]),
        (("points", 0, "config", "layers", "fc", "w_bits"), 99, ["$.points[0].config"]),
        (("points", 1, "feasible"), "yes", ["at $.points[1].feasible:", "not of type 'boolean'"]),
        (("points", 1, "number"), 1.5, ["at $.points[1].number:"]),
        (("objectives", "accuracy"), "up", ["at $.objectives.accuracy:"]),
        (("objectives", "accuracy"), "minimize", ["at $.objectives.accuracy: accuracy is to maximize, not minimize"]),
        (("points", 0, "metrics", "loss"), 0.1, ["at $.points[0].metrics: unknown metric 'loss'"]),
        (("reference_point",), {"accuracy": 0.0}, ["at $.reference_point: names accuracy, not the objectives"]),
        (("budget", "bit_budget"), [6], ["at $.budget.bit_budget:"]),
    ],
    "compare": [
        (("runs", 0, "hypervolume"), "x", ["at $.runs[0].hypervolume:", "'x' is not of type 'number'"]),
        (("runs", 1, "timeline", 0, "time_s"), None, ["at $.runs[1].timeline[0].time_s:"]),
        (("runs", 1, "timeline", 2, "hypervolume"), 0.5, ["at $.runs[1].timeline[2].hypervolume: hypervolume decreases"]),
        (("seeds",), "0,1", ["at $.seeds:"]),
        (("runs", 3, "front", 0, "metrics", "bit_budget"), {}, ["at $.runs[3].front[0].metrics.bit_budget:"]),
        (("runs", 3, "seed"), 7, ["at $.runs[3].seed: 7 is not one of the seeds"]),
    ],
    "timeline": [
        (("state",), "interrupted", ["at $.state:", "'complete' was expected"]),
        (("feasible_fraction",), 1.5, ["at $.feasible_fraction:", "greater than the maximum of 1"]),
        (("seed",), -1, ["at $.seed:"]),
        (("strategy",), 3, ["at $.strategy:"]),
        (("timeline", 0, "evaluations"), "1", ["at $.timeline[0].evaluations:"]),
        (("timeline", 1, "time_s"), 0.5, ["at $.timeline[1].time_s: time goes backwards"]),
        (("front", 0, "config"), "x", ["at $.front[0].config:"]),
        (("front",), None, ["at $.front:"]),
        (("folder",), "runs/nsga2/seed-0", ["('folder' was unexpected)"]),
    ],
}

TEXT_CASES = [(name, label, make, words) for name in FORMATS for label, make, words in _text_damage(name)]
WRONG_CASES = [(name, path, value, words) for name, cases in WRONG.items() for path, value, words in cases]


@pytest.mark.parametrize(("name", "label", "make", "words"), TEXT_CASES, ids=[f"{c[0]}-{c[1]}" for c in TEXT_CASES])
def test_damaged_text_is_one_line_data_error(tmp_path: Path, name: str, label: str, make: Callable, words: list[str]) -> None:
    read, _, file, what, *_ = FORMATS[name]
    content = make()
    path = tmp_path / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as err:
        read(path)
    message = one_line(err)
    assert message.startswith(f"{what} {path} ") and message.endswith(f"; {FIXES[name]}"), message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize(("name", "path", "value", "words"), WRONG_CASES, ids=[f"{c[0]}-{'.'.join(map(str, c[1]))}" for c in WRONG_CASES])
def test_wrong_types_name_the_json_path(tmp_path: Path, name: str, path: tuple, value: Any, words: list[str]) -> None:
    read, make, file, what, *_ = FORMATS[name]
    (tmp_path / file).write_text(json.dumps(put(make(), path, value)))
    with pytest.raises(DataError) as err:
        read(tmp_path / file)
    message = one_line(err)
    assert message.startswith(f"{what} {tmp_path / file} ") and message.endswith(f"; {FIXES[name]}"), message
    for word in words:
        assert word in message, (word, message)


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging when a reader opens a pipe nobody writes to."""
    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError("the reader blocked on a pipe")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _place(kind: str, path: Path, doc: dict[str, Any]) -> None:
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "missing":
        pass
    else:  # oversized: a valid file, read with a small limit
        path.write_text(json.dumps(doc))


@TIMEOUT
@pytest.mark.parametrize("kind, words", [("folder", "is a folder, not a file"), ("fifo", "is a pipe, not a file"),
                                         ("missing", "does not exist"), ("oversized", "more than the 10-byte limit")])
@pytest.mark.parametrize("name", FORMATS)
def test_what_is_not_a_readable_file_is_refused_before_reading(tmp_path: Path, name: str, kind: str, words: str) -> None:
    read, make, file, what, *_ = FORMATS[name]
    path = tmp_path / file
    _place(kind, path, make())
    with deadline(20), pytest.raises(DataError) as err:
        read(path, limit=10)
    message = one_line(err)
    assert message.startswith(f"{what} {path} ") and words in message, message


def test_a_linked_or_edited_timeline_is_never_filed_under_another_run(tmp_path: Path) -> None:
    other = tmp_path / "random-seed-0.json"
    other.write_text(json.dumps(timeline_doc("random", 0)))
    link = tmp_path / "timeline.json"
    link.symlink_to(other)
    with pytest.raises(DataError) as err:
        read_timeline_file(link)
    assert one_line(err) == f"timeline file {link} is a symbolic link, not a file; delete it and run spikebits compare again"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(timeline_doc("random", 0)))
    assert read_timeline_file(edited, strategy="random", seed=0)["strategy"] == "random"
    with pytest.raises(DataError, match="names strategy 'random', not 'nsga2'; delete it"):
        read_timeline_file(edited, strategy="nsga2", seed=0)
    with pytest.raises(DataError, match="names seed 0, not 3; delete it"):
        read_timeline_file(edited, strategy="random", seed=3)
    (tmp_path / "elsewhere.json").write_text(json.dumps(run_doc()))
    (tmp_path / "run.json").symlink_to(tmp_path / "elsewhere.json")
    assert read_run_json(tmp_path / "run.json") == run_doc()  # the other result files may be links


# --------------------------------------------------------------------- trials.csv
RECORDS = [
    TrialRecord(0, Config({"conv1": LayerChoice(8, 8, 1), "fc": LayerChoice(2, 1, 2, "pow2")}),
                {"accuracy": 0.5, "bit_budget": 2.0}, "nsga2", 1.5, True, violations={"bit_budget": -4.0}),
    TrialRecord(1, Config({"conv1": LayerChoice(8, 8, 1), "fc": LayerChoice(4, 2, 1)}),
                {"accuracy": 0.75, "bit_budget": 4.0}, "nsga2", 2.5, True, violations={"bit_budget": -2.0}),
]


def trials_text(tmp_path: Path) -> str:
    write_trials_csv(tmp_path / "good.csv", RECORDS)
    return (tmp_path / "good.csv").read_text()


def _second_row(text: str, old: str, new: str) -> str:
    lines = text.split("\n")
    assert old in lines[2], (old, lines[2])
    lines[2] = lines[2].replace(old, new, 1)
    return "\n".join(lines)


CSV_CASES = [
    ("nan accuracy", lambda t: _second_row(t, "0.75", "nan"), "line 3 is malformed (accuracy is 'nan', not a finite number)"),
    ("inf wall time", lambda t: _second_row(t, "2.5", "inf"), "wall_time_s is 'inf', not a finite number"),
    ("-inf violation", lambda t: _second_row(t, "-2.0", "-inf"), "violation.bit_budget is '-inf', not a finite number"),
    ("Infinity", lambda t: _second_row(t, "0.75", "Infinity"), "not a finite number"),
    ("word", lambda t: _second_row(t, "0.75", "high"), "accuracy is 'high', not a number"),
    ("5000-digit number", lambda t: _second_row(t, "1,COMPLETE", "9" * 5000 + ",COMPLETE"), "number is '99999"),
    ("5000-digit metric", lambda t: _second_row(t, "0.75", "9" * 5000), "accuracy is '9999"),
    ("state", lambda t: _second_row(t, "COMPLETE", "DONE"), "state is 'DONE', not one of"),
    ("feasible", lambda t: _second_row(t, "true", "yes"), "feasible is 'yes', not true/false"),
    ("config NaN", lambda t: _second_row(t, '""w_bits"":4', '""w_bits"":NaN'), "the config holds a non-finite number (NaN)"),
    ("config deep", lambda t: _second_row(t, '""w_bits"":4', '""w_bits"":' + "[" * 5000 + "]" * 5000), "nested too deeply"),
    ("config not a config", lambda t: _second_row(t, '""w_bits"":4', '""w_bits"":99'), "row 2 is malformed (layer 'fc': w_bits=99"),
    ("extra cell", lambda t: t.rstrip("\n") + ",surplus\n", "more cells than the header"),
    ("missing cells", lambda t: t + "2,COMPLETE\n", "line 4 is malformed (the row has fewer cells"),
    ("unknown violation", lambda t: t.replace("violation.bit_budget", "violation.loss", 1), "column 'violation.loss', which names no metric"),
    ("header", lambda t: "a,b\n1,2\n", "does not start with the trials.csv header"),
    ("not UTF-8", lambda t: t.encode().replace(b"nsga2", b"nsga\xff", 1), "is not UTF-8 text"),
    ("huge cell", lambda t: _second_row(t, "nsga2", "x" * 200_000), "is not a CSV file"),
]


@pytest.mark.parametrize(("label", "damage", "words"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_damaged_trials_csv_is_one_line_data_error(tmp_path: Path, label: str, damage: Callable, words: str) -> None:
    content = damage(trials_text(tmp_path))
    path = tmp_path / "trials.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as err:
        read_trial_records(path)
    message = one_line(err)
    assert words in message and str(path) in message, message
    assert message.endswith("; write it again with spikebits search"), message


def test_good_trials_csv_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    path.write_text(trials_text(tmp_path))
    assert read_trial_records(path) == RECORDS


@TIMEOUT
def test_trials_csv_that_is_not_a_readable_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "big.csv").write_text(trials_text(tmp_path))
    for name, words, limit in (("fifo.csv", "is a pipe", None), ("folder.csv", "is a folder", None), ("big.csv", "byte limit", 10)):
        with deadline(20), pytest.raises(DataError) as err:
            read_trial_records(tmp_path / name, **({} if limit is None else {"limit": limit}))
        assert words in one_line(err)


# --------------------------------------------------------------------- a NaN never wins
def test_a_nan_hypervolume_never_wins_even_when_it_reaches_the_statistics() -> None:
    data = compare_doc()
    for run in data["runs"]:
        if run["strategy"] == "random":
            run["hypervolume"] = math.nan  # as a damaged file would say, were it not refused
    with pytest.raises(DataError, match=r"compare data is invalid at \$.runs\[2\].hypervolume: nan is not a finite number"):
        validate_compare(data)
    data["strategies"] = ["random", "nsga2"]  # first listed: would win ties
    result = winner(data)
    assert result["strategy"] == "nsga2" and result["runner_up"] is None
    rows = {row["strategy"]: row for row in summarize(data)}
    assert rows["random"]["hypervolume_mean"] is None and rows["random"]["seeds"] == 2
    assert "| random | - ± - |" in format_report_md(data)
    data["runs"][1]["hypervolume"] = math.inf
    assert winner(data)["mean"] == 3.0
    for run in data["runs"]:
        run["hypervolume"] = math.nan
    with pytest.raises(DataError, match="no run has a finite final hypervolume"):
        winner(data)


# --------------------------------------------------------------------- spikebits report
def _search_folder(folder: Path, pareto: str | bytes) -> None:
    folder.mkdir()
    write_trials_csv(folder / "trials.csv", RECORDS)
    (folder / "pareto.json").write_bytes(pareto if isinstance(pareto, bytes) else pareto.encode())


REPORT_CASES = [
    ("compare NaN", "compare.json", lambda: text_with(compare_doc(), ("runs", 0, "hypervolume"), "NaN"), "non-finite number (NaN)"),
    ("compare Infinity", "compare.json", lambda: text_with(compare_doc(), ("runs", 3, "timeline", 2, "hypervolume"), "Infinity"),
     "non-finite number (Infinity)"),
    ("compare type", "compare.json", lambda: json.dumps(put(compare_doc(), ("runs", 0, "hypervolume"), "x")),
     "at $.runs[0].hypervolume: 'x' is not of type 'number'"),
    ("compare digits", "compare.json", lambda: text_with(compare_doc(), ("seeds", 0), "9" * 5000), "integer too long"),
    ("compare deep", "compare.json", lambda: text_with(compare_doc(), ("versions",), "[" * 10_000 + "]" * 10_000), "nested too deeply"),
    ("compare latin-1", "compare.json", lambda: json.dumps(compare_doc()).encode().replace(b"digits_cnn", b"digits\xe9"), "not UTF-8"),
    ("pareto NaN", "pareto.json", lambda: text_with(pareto_doc(), ("hypervolume",), "NaN"), "non-finite number (NaN)"),
    ("pareto type", "pareto.json", lambda: json.dumps(put(pareto_doc(), ("points", 0, "number"), "0")), "at $.points[0].number"),
    ("pareto metric", "pareto.json", lambda: json.dumps(put(pareto_doc(), ("points", 0, "metrics", "loss"), 1.0)), "unknown metric 'loss'"),
    ("pareto digits", "pareto.json", lambda: text_with(pareto_doc(), ("hypervolume",), "9" * 5000), "integer too long"),
    ("pareto deep", "pareto.json", lambda: text_with(pareto_doc(), ("energy",), "{\"a\":" * 10_000 + "1" + "}" * 10_000),
     "nested too deeply"),
]


@pytest.mark.parametrize(("label", "file", "content", "words"), REPORT_CASES, ids=[c[0] for c in REPORT_CASES])
def test_report_on_a_damaged_folder_is_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, label: str, file: str,
                                                            content: Callable, words: str) -> None:
    folder = tmp_path / "out"
    if file == "compare.json":
        folder.mkdir()
        text = content()
        (folder / file).write_bytes(text if isinstance(text, bytes) else text.encode())
    else:
        _search_folder(folder, content())
    before = sorted(p.name for p in folder.iterdir())
    code = main(["report", str(folder)])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert words in err and file in err, err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing drawn from a damaged file


def test_report_on_a_damaged_trials_csv_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "out"
    _search_folder(folder, json.dumps(pareto_doc()))
    (folder / "trials.csv").write_text(_second_row((folder / "trials.csv").read_text(), "0.75", "nan"))
    assert main(["report", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "accuracy is 'nan', not a finite number" in err and out == ""


# --------------------------------------------------------------------- any damage
def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in ``doc`` (the root included)."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -1, 0, 1.5, 1e308, "", "complete", "nsga2", "accuracy",
                       "spikebits.compare/1", "spikebits.pareto/1", "spikebits.run/1", "maximize", "minimize"])
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                      max_leaves=8)


@st.composite
def damaged(draw: st.DrawFn, name: str) -> bytes:
    """A valid file of format ``name`` with values swapped in at places, bytes corrupted or
    the text cut short."""
    doc = FORMATS[name][1]()
    kind = draw(st.sampled_from(["swap", "swap", "bytes", "cut"]))
    if kind == "swap":
        for _ in range(draw(st.integers(1, 3))):
            places = _paths(doc)
            place = draw(st.sampled_from(places))
            doc = draw(VALUES) if place == () else put(doc, place, draw(VALUES))
        return json.dumps(doc, allow_nan=True).encode()
    data = bytearray(json.dumps(doc).encode())
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _use(name: str, data: dict[str, Any]) -> None:
    """What ``spikebits report`` does with a file it has read (no figures drawn)."""
    if name == "compare":
        format_report_md(data)
    elif name == "pareto":
        pareto_records(data)
        Budget.parse([f"{m}<={v!r}" for m, v in data["budget"].items()])


@pytest.mark.parametrize("name", FORMATS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_file_reads_or_is_one_line_spikebits_error(tmp_path: Path, name: str, data: st.DataObject) -> None:
    read, _, file, *_ = FORMATS[name]
    path = tmp_path / file
    path.write_bytes(data.draw(damaged(name)))
    try:
        _use(name, read(path))
    except SpikebitsError as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)
