"""Every bad input, on every subcommand: exit code 2, one line on stderr with the expected
words, no traceback, nothing on stdout, and the files of an earlier run untouched.

Each case is ``(argv, words)``. In ``argv``, ``{w}`` stands for the folder of prepared inputs,
``{prev}`` for the output folder of an earlier run, whose every file (and the set of files)
must be byte-identical after the case, and ``{dev}`` for a character device: a null device
made inside the test folder when the tests run as root (a regression must not replace the
machine's ``/dev/null``, as the old code did for root), else ``/dev/null`` itself, which a
user who is not root cannot replace. No case trains anything: each is refused
before any work starts.

The prepared inputs include named pipes, links to ``/dev/zero`` and lock files that are no
lock files: :func:`snapshot` records such an entry by its kind and never opens it. A case that
leaves something behind fails, and the world is put back (:func:`restore`) so that the next
case is judged on its own. $SPIKEBITS_CACHE points at the session's own cache (conftest).
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import shutil
import stat
import zipfile
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from spikebits.search.cli import main

PREV_FILES = {
    "pareto.json": '{"schema": "spikebits.pareto/1", "points": []}\n',
    "trials.csv": "number,state\n0,COMPLETE\n",
    "run.json": '{"schema": "spikebits.run/1", "files": ["pareto.json", "run.json", "trials.csv"]}\n',
    "pareto.png": "\x89PNG not really\n",
}


def _null_device(w: Path) -> Path:
    """A character device (the null device, 1:3) for the cases that hand one in."""
    if os.geteuid() == 0:
        path = w / "null"
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return path
    return Path("/dev/null")


def _write_inputs(w: Path) -> None:
    (w / "prev").mkdir()
    for name, text in PREV_FILES.items():
        (w / "prev" / name).write_text(text)
    (w / "a_folder").mkdir()
    (w / "plain.txt").write_text("I am a file\n")
    (w / "not_json.json").write_text("{layers: oops")
    (w / "nan_space.json").write_text('{"layers": {"conv2": {"w_bits": [NaN]}}}')
    (w / "huge_space.json").write_text('{"layers": {"conv2": {"w_bits": [1e999]}}}')
    (w / "typo_space.json").write_text('{"layers": {}, "pined": {}}')
    (w / "tie_space.json").write_text('{"layers": {"conv2": {}}, "ties": [["conv2", ["fc"]]]}')
    (w / "latin1_space.json").write_bytes(b'{"model": "caf\xe9"}')
    (w / "inf_config.json").write_text('{"layers": {"conv2": {"w_bits": Infinity, "s_bits": 2, "timesteps": 1}}}')
    (w / "typo_config.json").write_text('{"layers": {}, "layer": {}}')
    (w / "list_config.json").write_text("[1, 2, 3]")
    (w / "energy_text.toml").write_text('synop_pj = "cheap"\n')
    (w / "energy.yaml").write_text("synop_pj: 1\n")
    (w / "garbage.journal").write_bytes(b"\x00\x01 this is not an optuna journal\n")
    (w / "garbage.db").write_bytes(b"not sqlite at all" * 10)
    (w / "random.ckpt").write_bytes(bytes(range(256)) * 4)
    (w / "empty.ckpt").write_bytes(b"")
    buffer = io.BytesIO()
    torch.save({"schema": "spikebits.checkpoint/1", "config": 5, "state_dict": {}}, buffer)
    (w / "wrong_config.ckpt").write_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    torch.save({"weights": Fraction(1, 3)}, buffer)  # a pickled object that is not a tensor
    (w / "pickled.ckpt").write_bytes(buffer.getvalue())
    (w / "raw.pkl").write_bytes(pickle.dumps({"weights": Fraction(1, 3)}))
    with zipfile.ZipFile(w / "zip.ckpt", "w") as archive:
        archive.writestr("archive/data.pkl", b"garbage")
    (w / "link.json").symlink_to(w / "plain.txt")
    (w / "compare_bad").mkdir()
    (w / "compare_bad" / "compare.json").write_text('{"schema": "spikebits.compare/1", "runs": 3}')
    _write_run_folders(w)
    _write_result_folders(w)
    _write_data_folders(w)
    _write_output_traps(w)
    _write_more_inputs(w)


#: Text of JSON nested 10,000 deep, and a whole number of 5,000 digits.
DEEP = "[" * 10000 + "]" * 10000
BIG_INT = "9" * 5000
SETTINGS = '{"schema": "spikebits.settings/1", "settings": %s}'
#: A complete energy preset (the keys of horowitz45nm.toml); the fixtures change one line.
ENERGY_TOML = """datapath = "multiply"
add_pj_per_bit = 0.00375
mult_pj_per_bit2 = 0.003125
synop_pj = 0.0
spike_pj = 0.0
neuron_pj = 0.0
neuron_adds = 2.0
membrane_bits = 16
accumulator_bits = 0
sram_bytes = [8192, 32768, 1048576]
sram_pj_per_64bit = [10.0, 20.0, 100.0]
dram_pj_per_64bit = 1300.0
"""
LAYERS = {"conv2": {"w_bits": 2, "s_bits": 2, "timesteps": 1, "scheme": "uniform"}}
POINT = {"config": {"layers": LAYERS}, "metrics": {"accuracy": 0.5, "bit_budget": 2.0}, "strategy": "random",
         "feasible": True, "number": 0}
PARETO = {"schema": "spikebits.pareto/1", "objectives": {"accuracy": "maximize", "bit_budget": "minimize"}, "budget": {},
          "reference_point": {"accuracy": 0.0, "bit_budget": 8.0}, "hypervolume": 3.0, "points": [POINT]}
TRIALS_HEADER = ("number,state,feasible,strategy,wall_time_s,accuracy,test_accuracy,bit_budget,s_ace,energy_pj,size_bits,"
                 "firing_rate,effective_resolution,s_ace_active,energy_pj_active,config,error,repaired_from\n")
TRIALS_ROW = '0,COMPLETE,true,random,1.0,0.5,,2.0,,,,,,,,"{""layers"":{""conv2"":{""w_bits"":2,""s_bits"":2,""timesteps"":1}}}",,\n'
TIMELINE = {"strategy": "random", "seed": 0, "state": "complete", "wall_time_s": 4.5, "evaluations": 1, "feasible_fraction": 1.0,
            "hypervolume": 3.0, "timeline": [{"time_s": 1.0, "evaluations": 1, "hypervolume": 3.0}], "front": [POINT]}
COMPARE = {"schema": "spikebits.compare/1", "created": "2026-11-29T01:20:00Z", "command": ["spikebits", "compare"],
           "model": "digits_cnn", "dataset": "digits", "objectives": {"accuracy": "maximize", "bit_budget": "minimize"},
           "budget": {}, "reference_point": {"accuracy": 0.0, "bit_budget": 8.0}, "evaluation_budget": {"evaluations": 1},
           "seeds": [0], "strategies": ["random"], "versions": {"python": "3.11"},
           "runs": [{**TIMELINE, "folder": "runs/random/seed-0"}]}


SPACE = {"schema": "spikebits.space/1", "model": "digits_cnn",
         "layers": {name: {"w_bits": [1, 2, 3, 4, 8], "s_bits": [1, 2, 4], "timesteps": [1, 2, 4], "schemes": ["uniform", "pow2"]}
                    for name in ("conv1", "conv2", "conv3", "fc")},
         "ties": [], "pinned": {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"}}}
CHECKPOINT = "spikebits.checkpoint/1"
#: A complete digits_cnn config, as the checkpoints of ``evaluate --save-checkpoint`` hold it.
CONFIG_TEXT = json.dumps({"layers": {name: {"w_bits": 2, "s_bits": 2, "timesteps": 1, "scheme": "uniform"}
                                     for name in ("conv2", "conv3", "fc")}})


def _json(value: object) -> str:
    return json.dumps(value)


def _changed(doc: dict, path: str, value: object) -> str:
    """``doc`` as JSON text with the value at the dotted ``path`` (list indices as numbers) replaced."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return json.dumps(doc)


def _put(path: Path, content: str | bytes | None) -> None:
    """Write ``content`` at ``path`` (parents made); None makes a named pipe (never opened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        os.mkfifo(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


#: Damaged JSON, one per way: each becomes a file's whole content (None: a named pipe there;
#: "<dir>" a folder, "<zero>" a link to /dev/zero, "<link>" a link to plain.txt).
DAMAGED_JSON: dict[str, str | bytes | None] = {
    "nan": '{"schema": NaN}',
    "inf": '{"schema": Infinity}',
    "huge": '{"schema": 1e999}',
    "bigint": '{"schema": %s}' % BIG_INT,
    "deep": DEEP,
    "latin1": b'{"schema": "caf\xe9"}',
    "empty": "",
    "cut": '{"schema": "spikebits.',
    "dir": "<dir>",
    "fifo": None,
    "zero": "<zero>",
    "link": "<link>",
}


def _damage(path: Path, way: str, w: Path) -> None:
    content = DAMAGED_JSON[way]
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "<dir>":
        path.mkdir()
    elif content == "<zero>":
        path.symlink_to("/dev/zero")
    elif content == "<link>":
        path.symlink_to(w / "plain.txt")
    else:
        _put(path, content)


def _write_run_folders(w: Path) -> None:
    """Output folders holding an earlier run: its settings other, damaged, or not recorded."""
    run_json = PREV_FILES["run.json"]
    for name, settings in {
        "other_strategy": '{"strategy": {"name": "random", "seed": 0}}',
        "other_seed": '{"strategy": {"name": "differentiable", "seed": 7}}',
    }.items():
        _put(w / name / "run.json", run_json)
        _put(w / name / "settings.json", SETTINGS % settings)
    for way in DAMAGED_JSON:
        _put(w / f"settings_{way}" / "run.json", run_json)
        _damage(w / f"settings_{way}" / "settings.json", way, w)
    for name, text in {
        "settings_schema": '{"schema": "spikebits.settings/2", "settings": {}}',
        "settings_list": "[1, 2, 3]",
        "settings_notdict": SETTINGS % "[1]",
        "settings_noschema": '{"settings": {}}',
    }.items():
        _put(w / name / "run.json", run_json)
        _put(w / name / "settings.json", text)
    _put(w / "timeline_only" / "timeline.json", _json(TIMELINE))
    _put(w / "journal_only" / "study.journal", "")
    _put(w / "pareto_only" / "pareto.json", _json(PARETO))
    (w / "dangling_run").mkdir()
    (w / "dangling_run" / "run.json").symlink_to(w / "nowhere.json")
    # Comparisons: one run folder (random, seed 0) whose timeline is damaged, named another
    # strategy, linked in, or whose settings differ.
    seed0 = Path("runs") / "random" / "seed-0"
    _put(w / "cmp_other" / seed0 / "timeline.json", _json({**TIMELINE, "strategy": "nsga2"}))
    _put(w / "cmp_nan" / seed0 / "timeline.json", '{"strategy": "random", "seed": NaN}')
    (w / "cmp_link" / seed0).mkdir(parents=True)
    (w / "cmp_link" / seed0 / "timeline.json").symlink_to(w / "cmp_other" / seed0 / "timeline.json")
    _put(w / "cmp_fifo" / seed0 / "timeline.json", None)
    _put(w / "cmp_settings" / seed0 / "timeline.json", _json(TIMELINE))
    _put(w / "cmp_settings" / seed0 / "settings.json", SETTINGS % '{"strategy": {"name": "random", "seed": 5}}')
    _put(w / "cmp_seed1" / "runs" / "random" / "seed-1" / "run.json", run_json)
    _put(w / "cmp_badsettings" / seed0 / "run.json", run_json)
    _put(w / "cmp_badsettings" / seed0 / "settings.json", SETTINGS % "NaN")


def _write_result_folders(w: Path) -> None:
    """Folders for ``report``: compare.json, pareto.json, trials.csv or run.json damaged."""
    pareto, trials = _json(PARETO), TRIALS_HEADER + TRIALS_ROW
    for way in DAMAGED_JSON:
        if way != "link":  # a link to a good file would be reported (and written beside it)
            _damage(w / f"rep_cmp_{way}" / "compare.json", way, w)
            _damage(w / f"rep_par_{way}" / "pareto.json", way, w)
            _put(w / f"rep_par_{way}" / "trials.csv", trials)
    for name, text in {
        "cmp_objectives_list": _changed(COMPARE, "objectives", ["accuracy", "bit_budget"]),
        "cmp_seeds_text": _changed(COMPARE, "seeds", ["0"]),
        "cmp_hv_text": _changed(COMPARE, "runs.0.hypervolume", "big"),
        "cmp_hv_negative": _changed(COMPARE, "runs.0.hypervolume", -1),
        "cmp_schema2": _changed(COMPARE, "schema", "spikebits.compare/2"),
        "cmp_extra_key": _changed(COMPARE, "oops", 1),
        "cmp_toplist": "[]",
        "cmp_unknown_strategy": _changed(COMPARE, "runs.0.strategy", "annealing"),
        "cmp_created": _changed(COMPARE, "created", "yesterday"),
        "cmp_reference": _changed(COMPARE, "reference_point", {"accuracy": 0.0}),
        "cmp_command_empty": _changed(COMPARE, "command", []),
        "cmp_fraction": _changed(COMPARE, "runs.0.feasible_fraction", 2),
        "cmp_bigint_seed": _changed(COMPARE, "seeds", [0]).replace("[0]", "[%s]" % BIG_INT, 1),
    }.items():
        _put(w / f"rep_{name}" / "compare.json", text)
    for name, text in {
        "par_objectives_list": _changed(PARETO, "objectives", ["accuracy"]),
        "par_hv_text": _changed(PARETO, "hypervolume", "3"),
        "par_hv_negative": _changed(PARETO, "hypervolume", -3.0),
        "par_points_dict": _changed(PARETO, "points", {}),
        "par_number_text": _changed(PARETO, "points.0.number", "0"),
        "par_unknown_metric": _changed(PARETO, "objectives", {"accuracy": "maximize", "speed": "minimize"}),
        "par_direction": _changed(PARETO, "objectives", {"accuracy": "minimize", "bit_budget": "minimize"}),
        "par_schema": _changed(PARETO, "schema", "spikebits.compare/1"),
        "par_feasible_text": _changed(PARETO, "points.0.feasible", "yes"),
        "par_budget_text": _changed(PARETO, "budget", {"bit_budget": "low"}),
        "par_point_metric": _changed(PARETO, "points.0.metrics", {"speed": 1.0}),
        "par_toplist": "[1]",
    }.items():
        _put(w / f"rep_{name}" / "pareto.json", text)
        _put(w / f"rep_{name}" / "trials.csv", trials)
    for name, text in {
        "trials_nan": TRIALS_HEADER + TRIALS_ROW.replace("1.0,0.5", "1.0,nan"),
        "trials_inf": TRIALS_HEADER + TRIALS_ROW.replace("1.0,0.5", "1.0,inf"),
        "trials_bigint": TRIALS_HEADER + BIG_INT + TRIALS_ROW[1:],
        "trials_header": "number,state\n0,COMPLETE\n",
        "trials_empty": "",
        "trials_latin1": (TRIALS_HEADER + TRIALS_ROW.replace("random", "caf\xe9")).encode("latin-1"),
        "trials_ragged": TRIALS_HEADER + "0,COMPLETE,true\n",
        "trials_state": TRIALS_HEADER + TRIALS_ROW.replace("COMPLETE", "DONE"),
        "trials_config": TRIALS_HEADER + TRIALS_ROW.replace('"{""layers""', '"{""lay'),
        "trials_feasible": TRIALS_HEADER + TRIALS_ROW.replace("true", "maybe"),
        "trials_no_error": TRIALS_HEADER.replace(",error", "") + TRIALS_ROW.replace(",,\n", ",\n"),
        "trials_violation": TRIALS_HEADER.replace("\n", ",violation.speed\n") + TRIALS_ROW.replace("\n", ",\n"),
        "trials_wide_row": TRIALS_HEADER + TRIALS_ROW.replace("\n", ",extra\n"),
        "trials_number_text": TRIALS_HEADER + "x" + TRIALS_ROW[1:],
        "trials_fifo": None,
        "trials_deep_config": TRIALS_HEADER + TRIALS_ROW.replace('"{""layers""', '"' + "[" * 100 + '{""layers""'),
    }.items():
        _put(w / f"rep_{name}" / "pareto.json", pareto)
        _put(w / f"rep_{name}" / "trials.csv", text)
    (w / "rep_trials_dir").mkdir()
    _put(w / "rep_trials_dir" / "pareto.json", pareto)
    (w / "rep_trials_dir" / "trials.csv").mkdir()
    for way in ("nan", "deep", "latin1", "fifo", "zero", "dir"):
        _put(w / f"rep_run_{way}" / "pareto.json", pareto)
        _put(w / f"rep_run_{way}" / "trials.csv", trials)
        _damage(w / f"rep_run_{way}" / "run.json", way, w)
    _put(w / "rep_run_types" / "pareto.json", pareto)
    _put(w / "rep_run_types" / "trials.csv", trials)
    _put(w / "rep_run_types" / "run.json", '{"schema": "spikebits.run/1", "seed": "zero", "strategy": {"name": "random"}}')


def _write_data_folders(w: Path) -> None:
    """Data folders whose files are named pipes, links to /dev/zero or folders."""
    idx = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    cifar = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in idx:
        _put(w / "mnist_fifo" / name, None)
        _put(w / "mnist_gz_fifo" / f"{name}.gz", None)
        _put(w / "mnist_nested" / "MNIST" / "raw" / name, None)
        _put(w / "fashion_fifo" / "FashionMNIST" / "raw" / name, None)
        (w / "mnist_dirs" / name).mkdir(parents=True)
        for folder in ("mnist_zero", "kmnist_zero"):
            (w / folder).mkdir(exist_ok=True)
            (w / folder / name).symlink_to("/dev/zero")
    _put(w / "mnist_partial" / idx[0], b"\x00\x00\x08\x03")
    for name in cifar:
        _put(w / "cifar_fifo" / "cifar-10-batches-py" / name, None)
        _put(w / "cifar_flat_fifo" / name, None)
        (w / "cifar_zero").mkdir(exist_ok=True)
        (w / "cifar_zero" / name).symlink_to("/dev/zero")
    for name in ("train", "test"):
        _put(w / "cifar100_fifo" / "cifar-100-python" / name, None)
    for name in ("shd_train.h5", "shd_test.h5"):
        _put(w / "shd_fifo" / "SHD" / name, None)


def _write_output_traps(w: Path) -> None:
    """Outputs that must not be written through: a pipe, links, and lock files that are no
    lock files (a pipe, a hard link to a world file, a link, a folder)."""
    os.mkfifo(w / "out_fifo")
    (w / "link_null").symlink_to("/dev/null")
    (w / "link_prev").symlink_to(w / "prev")
    (w / "link_dangling").symlink_to(w / "nowhere")
    for name in ("lock_fifo", "lock_hard", "lock_link", "lock_dir", "lock_dangling", "lock_zero"):
        (w / name).mkdir()
    os.mkfifo(w / "lock_fifo" / ".spikebits.lock")
    os.link(w / "plain.txt", w / "lock_hard" / ".spikebits.lock")
    (w / "lock_link" / ".spikebits.lock").symlink_to(w / "plain.txt")
    (w / "lock_dir" / ".spikebits.lock").mkdir()
    (w / "lock_dangling" / ".spikebits.lock").symlink_to(w / "nowhere.lock")
    (w / "lock_zero" / ".spikebits.lock").symlink_to("/dev/zero")


def _write_more_inputs(w: Path) -> None:
    """Energy presets, spaces, configs and checkpoints, each wrong in one way."""
    for name, (old, new) in {
        "energy_nan": ("synop_pj = 0.0", "synop_pj = nan"),
        "energy_inf": ("synop_pj = 0.0", "synop_pj = inf"),
        "energy_negative": ("spike_pj = 0.0", "spike_pj = -1.0"),
        "energy_huge": ("neuron_pj = 0.0", "neuron_pj = 1e31"),
        "energy_unknown": ("neuron_pj = 0.0", "neuron_pj = 0.0\nflux_pj = 1.0"),
        "energy_missing": ("neuron_adds = 2.0\n", ""),
        "energy_datapath": ('"multiply"', '"quantum"'),
        "energy_membrane": ("membrane_bits = 16", "membrane_bits = 0"),
        "energy_fraction": ("membrane_bits = 16", "membrane_bits = 2.5"),
        "energy_tiers": ("[10.0, 20.0, 100.0]", "[10.0, 20.0]"),
        "energy_syntax": ("synop_pj = 0.0", "synop_pj = = 0"),
        "energy_bool": ("synop_pj = 0.0", "synop_pj = true"),
    }.items():
        _put(w / f"{name}.toml", ENERGY_TOML.replace(old, new))
    _put(w / "energy_latin1.toml", b'name = "caf\xe9"\n')
    _put(w / "energy_list.json", "[1, 2]")
    _put(w / "energy_fifo.toml", None)
    (w / "energy_dir.toml").mkdir()
    _put(w / "energy_nan.json", '{"synop_pj": NaN}')
    for name, text in {
        "config_w0": '{"layers": {"conv2": {"w_bits": 0, "s_bits": 2, "timesteps": 1}}}',
        "config_w99": '{"layers": {"conv2": {"w_bits": 99, "s_bits": 2, "timesteps": 1}}}',
        "config_s_negative": '{"layers": {"conv2": {"w_bits": 2, "s_bits": -1, "timesteps": 1}}}',
        "config_t0": '{"layers": {"conv2": {"w_bits": 2, "s_bits": 2, "timesteps": 0}}}',
        "config_scheme": '{"layers": {"conv2": {"w_bits": 2, "s_bits": 2, "timesteps": 1, "scheme": "log"}}}',
        "config_unknown_layer": '{"layers": {"conv99": {"w_bits": 2, "s_bits": 2, "timesteps": 1}}}',
        "config_missing_key": '{"layers": {"conv2": {"w_bits": 2}}}',
        "config_text": '{"layers": {"conv2": {"w_bits": "2", "s_bits": 2, "timesteps": 1}}}',
        "config_fraction": '{"layers": {"conv2": {"w_bits": 2.5, "s_bits": 2, "timesteps": 1}}}',
        "config_bool": '{"layers": {"conv2": {"w_bits": true, "s_bits": 2, "timesteps": 1}}}',
        "config_nan": '{"layers": {"conv2": {"w_bits": NaN, "s_bits": 2, "timesteps": 1}}}',
        "config_bigint": '{"layers": {"conv2": {"w_bits": %s, "s_bits": 2, "timesteps": 1}}}' % BIG_INT,
        "config_deep": DEEP,
        "config_empty": "",
        "config_layers_list": '{"layers": [1]}',
    }.items():
        _put(w / f"{name}.json", text)
    for name, (path, value) in {
        "space_w0": ("layers.conv2.w_bits", [0]),
        "space_w99": ("layers.conv2.w_bits", [99]),
        "space_s_negative": ("layers.conv2.s_bits", [-1, 2]),
        "space_t0": ("layers.conv2.timesteps", [0]),
        "space_t_huge": ("layers.conv2.timesteps", [1, 99999999]),
        "space_empty_list": ("layers.conv2.w_bits", []),
        "space_text": ("layers.conv2.w_bits", "four"),
        "space_bool": ("layers.conv2.w_bits", [True]),
        "space_fraction": ("layers.conv2.w_bits", [2.5]),
        "space_scheme": ("layers.conv2.schemes", ["log"]),
        "space_no_schemes": ("layers.conv2.schemes", []),
        "space_model": ("model", "resnet20"),
        "space_schema": ("schema", "spikebits.space/9"),
        "space_pinned": ("pinned", {"conv99": {"w_bits": 2, "s_bits": 2, "timesteps": 1}}),
        "space_pinned_bad": ("pinned", {"conv1": {"w_bits": 99, "s_bits": 8, "timesteps": 1}}),
        "space_ties_unknown": ("ties", [["conv2", "conv99"]]),
        "space_ties_text": ("ties", "conv2"),
        "space_extra_layer": ("layers.conv99", {"w_bits": [2], "s_bits": [2], "timesteps": [1]}),
        "space_layer_list": ("layers.conv2", [1, 2]),
        "space_dup": ("layers.conv2.w_bits", [2, 2]),
    }.items():
        _put(w / f"{name}.json", _changed(SPACE, path, value))
    _put(w / "space_deep.json", DEEP)
    _put(w / "space_bigint.json", '{"layers": {"conv2": {"w_bits": [%s]}}}' % BIG_INT)
    _put(w / "space_list.json", "[]")
    _put(w / "space_nan.json", _changed(SPACE, "layers.conv2.w_bits", [2]).replace("[2]", "[NaN]", 1))
    _put(w / "config_t_huge.json", CONFIG_TEXT.replace('"timesteps": 1', '"timesteps": 99999999', 1))
    _put(w / "config_pinned.json", CONFIG_TEXT.replace('{"conv2"', '{"conv1": {"w_bits": 2, "s_bits": 2, "timesteps": 1}, "conv2"', 1))
    _put(w / "config_pow2_w1.json", CONFIG_TEXT.replace('"scheme": "uniform"', '"scheme": "pow2"', 1).replace('"w_bits": 2', '"w_bits": 1', 1))
    _put(w / "config_good.json", CONFIG_TEXT)
    _put(w / "config_latin1.json", b'{"layers": {"caf\xe9": {}}}')
    _put(w / "space_fifo.json", None)
    _put(w / "config_fifo.json", None)
    (w / "space_zero.json").symlink_to("/dev/zero")
    (w / "config_zero.json").symlink_to("/dev/zero")
    tensor = torch.zeros(2)
    for name, payload in {
        "state_list": {"schema": CHECKPOINT, "config": CONFIG_TEXT, "state_dict": [1, 2]},
        "state_empty": {"schema": CHECKPOINT, "config": CONFIG_TEXT, "state_dict": {}},
        "state_value": {"schema": CHECKPOINT, "config": CONFIG_TEXT, "state_dict": {"conv2.weight": 3}},
        "state_key": {"schema": CHECKPOINT, "config": CONFIG_TEXT, "state_dict": {7: tensor}},
        "state_shape": {"schema": CHECKPOINT, "config": CONFIG_TEXT, "state_dict": {"conv2.weight": tensor}},
        "config_dict": {"schema": CHECKPOINT, "config": json.loads(CONFIG_TEXT), "state_dict": {"w": tensor}},
        "config_malformed": {"schema": CHECKPOINT, "config": "{layers", "state_dict": {"w": tensor}},
        "config_w99": {"schema": CHECKPOINT, "config": CONFIG_TEXT.replace('"w_bits": 2', '"w_bits": 99', 1),
                       "state_dict": {"w": tensor}},
        "config_unknown": {"schema": CHECKPOINT, "config": '{"layers": {"conv99": {"w_bits": 2, "s_bits": 2, "timesteps": 1}}}',
                           "state_dict": {"w": tensor}},
        "no_config": {"schema": CHECKPOINT, "config": None, "state_dict": {"w": tensor}},
        "other_schema": {"schema": "spikebits.checkpoint/9", "config": CONFIG_TEXT, "state_dict": {"w": tensor}},
        "plain_state": {"conv2.weight": tensor},
        "tensor": tensor,
    }.items():
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        _put(w / f"{name}.ckpt", buffer.getvalue())
    _put(w / "cut.ckpt", (w / "wrong_config.ckpt").read_bytes()[:100])
    _put(w / "fifo.ckpt", None)
    (w / "zero.ckpt").symlink_to("/dev/zero")
    (w / "dir.ckpt").mkdir()


#: (argv, words that the one stderr line must hold). Distinct inputs, every subcommand.
CASES = [
    # ---- search: option values
    ("search --lr -1", "--lr: -1 must be more than 0"),
    ("search --lr nan", "--lr: 'nan' is not a finite number"),
    ("search --lr inf", "--lr: 'inf' is not a finite number"),
    ("search --lr fast", "--lr: 'fast' is not a number"),
    ("search --epochs -1", "--epochs: -1 must be 0 or more"),
    ("search --trials 0", "--trials: 0 must be at least 1"),
    ("search --trials 2.5", "--trials: '2.5' is not a whole number"),
    ("search --seed -1", "--seed: -1 must be a whole number from 0 to 4294967295"),
    ("search --seed 4294967296", "--seed: 4294967296 must be a whole number"),
    ("search --threads 0", "--threads: 0 must be at least 1"),
    ("search --pretrain-epochs -5", "--pretrain-epochs: -5 must be at least 1 (or auto)"),
    ("search --pretrain-epochs 0", "--pretrain-epochs: 0 must be at least 1 (or auto)"),
    ("search --pretrain-epochs often", "--pretrain-epochs: 'often' is not a whole number (or auto)"),
    ("search --train-fraction 0", "--train-fraction: 0 must be above 0 and at most 1"),
    ("search --train-fraction 1.5", "--train-fraction: 1.5 must be above 0 and at most 1"),
    ("search --augment on", "data set digits has no training augmentation to switch on; drop --augment"),
    ("search --augment sometimes", "--augment: invalid choice: 'sometimes'"),
    ("search --val-fraction 0", "--val-fraction: 0 must be above 0 and below 1"),
    ("search --val-fraction nan", "--val-fraction: 'nan' is not a finite number"),
    ("search --workers -1", "--workers: -1 must be 0 or more"),
    ("search --input-shape 0,8,8", "is not C,H,W with three positive sizes"),
    ("search --input-shape 3,999999999999999999999999999999,16", "has a size above 16384; give the data set's real C,H,W"),
    ("evaluate --uniform 4/4/1 --cost-only --input-shape 16385,8,8", "has a size above 16384"),
    ("search --device meta --out {prev}", "device 'meta' cannot train here"),
    ("search --device tpu --out {prev}", "unknown device 'tpu'"),
    ("search --device cuda:99 --out {prev}", "cuda:99"),
    ("search --cache-dir {w}/plain.txt --out {prev}", "--cache-dir {w}/plain.txt is not a folder"),
    ("search --data-dir {w}/missing --out {prev}", "--data-dir {w}/missing does not exist"),
    ("search --data-dir {w}/plain.txt --out {prev}", "is not a folder"),
    ("search --model vgg99 --out {prev}", "unknown model 'vgg99'"),
    ("search --model spikformer --model-arg depth=0 --out {prev}", "--model-arg: spikformer: depth must be >= 1"),
    ("search --model resnet20 --model-arg embed_dim=64 --out {prev}", "--model-arg: resnet20 does not take 'embed_dim'"),
    ("search --model-arg width --out {prev}", "'width' is not KEY=VALUE"),
    ("search --model-arg num_classes=3 --out {prev}", "num_classes is set by --dataset and --input-shape"),
    ("space --model spikformer --model-arg heads={{}}", "give a number, a list or a word"),
    ("compare --evaluations 2 --model spikformer --model-arg embed_dim=12 --out {prev}", "embed_dim must be a positive multiple of 8"),
    ("search --strategy annealing --out {prev}", "unknown strategy 'annealing'"),
    ("search --dataset imagenet --out {prev}", "unknown data set 'imagenet'"),
    ("search --objectives bit_budget --out {prev}", "leaves out accuracy"),
    ("search --objectives bit_budget,s_ace --out {prev}", "leaves out accuracy"),
    ("search --objectives accuracy,speed --out {prev}", "unknown metric 'speed'"),
    ("search --budget bit_budget<=nan --out {prev}", "finite limit"),
    ("search --budget bit_budget<=-1 --out {prev}", "never negative"),
    ("search --budget bit_budget>=2 --out {prev}", "is malformed; write METRIC<=NUMBER"),
    ("search --budget bit_budget<=0.5 --out {prev}", "cannot be met"),
    # ---- search: files
    ("search --space {w}/missing.json --out {prev}", "space file {w}/missing.json does not exist"),
    ("search --space {w}/a_folder --out {prev}", "space file {w}/a_folder is a folder"),
    ("search --space {dev} --out {prev}", "space file {dev} is a device"),
    ("search --space {w}/not_json.json --out {prev}", "is not valid JSON"),
    ("search --space {w}/nan_space.json --out {prev}", "non-finite number"),
    ("search --space {w}/huge_space.json --out {prev}", "non-finite number"),
    ("search --space {w}/typo_space.json --out {prev}", "unknown key 'pined'"),
    ("search --space {w}/tie_space.json --out {prev}", "ties"),
    ("search --space {w}/latin1_space.json --out {prev}", "is not UTF-8 text"),
    ("search --strategy random --warm-start {w}/missing.json --out {prev}", "config file {w}/missing.json does not exist"),
    ("search --strategy random --warm-start {w}/inf_config.json --out {prev}", "non-finite number"),
    ("search --strategy random --warm-start {w}/typo_config.json --out {prev}", "unknown key 'layer'"),
    ("search --strategy random --warm-start {w}/list_config.json --out {prev}", "config"),
    ("search --strategy differentiable --warm-start {w}/plain.txt --out {prev}", "--warm-start applies to"),
    ("search --energy-model {w}/energy_text.toml --out {prev}", "synop_pj"),
    ("search --energy-model {w}/missing.json --out {prev}", "energy model file {w}/missing.json does not exist"),
    ("search --energy-model {w}/energy.yaml --out {prev}", "neither a preset"),
    ("search --energy-model /dev/zero.json --out {prev}", "does not exist"),
    ("search --out {dev}", "--out {dev} is a device, not a folder"),
    ("search --out {w}/plain.txt", "--out {w}/plain.txt is a file, not a folder"),
    ("search --out {w}/plain.txt/deeper", "is inside a file, not a folder"),
    ("search --strategy random --storage nosuch://x --out {prev}", "nosuch://x"),
    ("search --strategy random --storage {w}/garbage.journal --out {prev}", "not an Optuna journal"),
    ("search --strategy random --storage {w}/a_folder --out {prev}", "folder"),
    ("search --strategy random --storage sqlite:///{w}/missing/s.db --out {prev}", "does not exist"),
    ("search --strategy random --storage sqlite:///{w}/garbage.db --out {prev}", "not an sqlite database"),
    ("search --strategy random --storage {dev} --out {prev}", "{dev}"),
    # ---- search: strategy options
    ("search --strategy differentiable --supernet-epochs 0 --out {prev}", "supernet_epochs = 0 must be at least 1"),
    ("search --strategy differentiable --recipe paper --batch-size 64 --out {prev}", "recipe paper sets batch_size to 128; drop --batch-size 64"),
    ("search --strategy differentiable --bits-hysteresis 0.5 --out {prev}", "bits_hysteresis = 0.5 must be at least 0 and below 0.5"),
    ("search --strategy differentiable --network finetune --network-epochs 1 --out {prev}", "network_epochs fine-tunes the supernet's network"),
    ("search --strategy differentiable --lambdas 0.1/0.1 --out {prev}", "lambdas needs 3 numbers"),
    ("search --strategy differentiable --renewal-grid 0 --out {prev}", "renewal_grid = 0 must be at least 1"),
    ("search --strategy differentiable --bits-lr -1 --out {prev}", "bits_lr = -1.0 must be 0 or more"),
    ("search --strategy differentiable --target-tolerance nan --out {prev}", "target_tolerance must be a finite number"),
    ("search --strategy differentiable --target-tolerance -1 --out {prev}", "target_tolerance = -1.0 must be 0 or more"),
    ("search --strategy differentiable --targets 9/9 --out {prev}", "target '9/9' is malformed; write W/S/T"),
    ("search --strategy random --zscore ceil --out {prev}", "the random strategy does not take it"),
    ("search --strategy nsga2 --population-size 1 --out {prev}", "population_size = 1 must be at least 2"),
    ("search --renewal sometimes", "invalid choice: 'sometimes'"),
    # ---- search: Ray
    ("search --ray --cpus-per-trial -3", "--cpus-per-trial: -3 must be more than 0"),
    ("search --ray --gpus-per-trial nan", "--gpus-per-trial: 'nan' is not a finite number"),
    ("search --ray --max-concurrent 0", "--max-concurrent: 0 must be at least 1"),
    ("search --ray --max-failures -1", "--max-failures: -1 must be 0 or more"),
    ("search --resume --out {prev}", "need --ray"),
    ("search --early-stop --out {prev}", "the differentiable strategy runs whole supernet runs (drop --early-stop)"),
    ("search --strategy random --early-stop --epochs 1 --out {prev}", "--epochs 1 leaves no such epoch: give --epochs 2 or more"),
    ("search --strategy random --early-stop --reduction-factor 1 --out {prev}", "--reduction-factor must be a whole number of at least 2"),
    ("search --strategy random --reduction-factor 3 --out {prev}", "--reduction-factor sets η of the local --early-stop"),
    ("search --ray --early-stop --reduction-factor 3 --out {prev}", "give --early-stop without --ray"),
    ("search --strategy random --scoring oneshot --out {prev}", "invalid choice: 'oneshot'"),
    ("search --strategy random --scoring one-shot --one-shot-epochs 0 --out {prev}", "--one-shot-epochs: 0 must be at least 1"),
    ("search --strategy random --scoring one-shot --bn-batches 0 --out {prev}", "--bn-batches: 0 must be at least 1"),
    ("search --strategy random --one-shot-epochs 3 --out {prev}", "add --scoring one-shot or drop it"),
    ("search --strategy random --bn-batches 3 --out {prev}", "--bn-batches sets one-shot scoring; add --scoring one-shot or drop it"),
    ("search --strategy random --scoring one-shot --early-stop --out {prev}", "drop one of them"),
    ("compare --strategies random --evaluations 2 --one-shot-epochs 3 --out {prev}", "add --scoring one-shot or drop it"),
    ("search --ray 127.0.0.1:1 --out {prev}", "cannot reach a Ray cluster at 127.0.0.1:1"),
    # ---- evaluate
    ("evaluate --uniform 4/4", "write W/S/T"),
    ("evaluate --uniform 99/4/1", "w_bits=99 is out of range"),
    ("evaluate --uniform 4pp/4/1", "write W/S/T"),
    ("evaluate --config {w}/missing.json", "config file {w}/missing.json does not exist"),
    ("evaluate --config {w}/a_folder", "config file {w}/a_folder is a folder"),
    ("evaluate --config {w}/inf_config.json", "non-finite number"),
    ("evaluate --uniform 4/4/1 --report {prev}", "--report {prev} is a folder"),
    ("evaluate --uniform 4/4/1 --report {dev}", "--report {dev} is a device"),
    ("evaluate --uniform 4/4/1 --report {w}/link.json", "is a symbolic link"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {w}/a_folder", "--save-checkpoint {w}/a_folder is a folder"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {w}/plain.txt/x.ckpt", "is not a folder"),
    ("evaluate --uniform 4/4/1 --lanes 0", "--lanes: 0 must be at least 1"),
    ("evaluate --uniform 4/4/1 --simulate-samples 0", "--simulate-samples: 0 must be at least 1"),
    ("evaluate --uniform 4/4/1 --cost-only --save-checkpoint {w}/c.ckpt", "drop --cost-only"),
    ("evaluate --checkpoint {w}/random.ckpt --cost-only", "give --config or --uniform instead of --checkpoint"),
    ("evaluate --checkpoint {w}/missing.ckpt", "checkpoint file {w}/missing.ckpt does not exist"),
    ("evaluate --checkpoint {w}/pickled.ckpt", "pickled"),
    ("evaluate --checkpoint {w}/wrong_config.ckpt", "config"),
    ("evaluate --config {w}/typo_config.json --include-pinned", "--include-pinned goes with --uniform"),
    # ---- sensitivity
    ("sensitivity --probes 0", "--probes: 0 must be at least 1"),
    ("sensitivity --batches -1", "--batches: -1 must be at least 1"),
    ("sensitivity --out {w}/plain.txt", "is a file, not a folder"),
    ("sensitivity --hessian-network int8", "invalid choice: 'int8'"),
    # ---- space
    ("space --out {dev}", "--out {dev} is a device"),
    ("space --out {prev}", "--out {prev} is a folder"),
    ("space --out {w}/link.json", "--out {w}/link.json is a symbolic link"),
    ("space --model nope", "unknown model 'nope'"),
    ("space --input-shape 3,x,3", "is not C,H,W"),
    # ---- export
    ("export --checkpoint {w}/missing.ckpt --out {w}/m.sbq", "checkpoint file {w}/missing.ckpt does not exist"),
    ("export --checkpoint {w}/a_folder --out {w}/m.sbq", "a_folder"),
    ("export --checkpoint {w}/random.ckpt --out {w}/m.sbq", "cannot read checkpoint"),
    ("export --checkpoint {w}/empty.ckpt --out {w}/m.sbq", "cannot read checkpoint"),
    ("export --checkpoint {w}/zip.ckpt --out {w}/m.sbq", "cannot read checkpoint"),
    ("export --checkpoint {w}/pickled.ckpt --out {w}/m.sbq", "pickled"),
    ("export --checkpoint {w}/raw.pkl --out {w}/m.sbq", "checkpoint"),
    ("export --checkpoint {w}/wrong_config.ckpt --out {w}/m.sbq", "config"),
    ("export --checkpoint {w}/random.ckpt --out {dev}", "--out {dev} is a device"),
    ("export --checkpoint {w}/random.ckpt --out {prev}", "--out {prev} is a folder"),
    # ---- compare
    ("compare --evaluations 0 --out {prev}", "--evaluations: 0 must be at least 1"),
    ("compare --time-budget -1 --out {prev}", "--time-budget: -1 must be more than 0"),
    ("compare --time-budget inf --out {prev}", "--time-budget: 'inf' is not a finite number"),
    ("compare --seeds 0 --out {prev}", "--seeds: 0 must be at least 1"),
    ("compare --evaluations 1 --strategies random,annealing --out {prev}", "unknown strategy 'annealing'"),
    ("compare --evaluations 1 --strategies random,random --out {prev}", "names a strategy twice"),
    ("compare --evaluations 1 --out {dev}", "{dev}"),
    # ---- report, strategies, the top level
    ("report {w}/missing", "missing"),
    ("report {w}/plain.txt", "plain.txt"),
    ("report {w}/compare_bad", "compare.json"),
    ("report {w}/a_folder", "neither compare.json nor pareto.json"),
    ("strategies annealing", "unknown strategy 'annealing'"),
    ("frobnicate", "invalid choice: 'frobnicate'"),
    # ==== issue 29, part 5: what an outside tester tries against what was added recently ====
    # ---- results relabelled: an --out holding a run made with other settings, or none recorded
    ("search --out {prev}", "--out {w}/prev holds a run (run.json, pareto.json, trials.csv) that records no settings; use another --out, or add --restart"),
    ("search --out {w}/other_strategy", 'holds a run made with strategy.name (--strategy) = "random", not "differentiable"'),
    ("search --out {w}/other_seed", "holds a run made with strategy.seed (--seed) = 7, not 0; use another --out, or add --restart"),
    ("search --strategy random --out {w}/other_seed", 'holds a run made with strategy.name (--strategy) = "differentiable", not "random"'),
    ("search --out {w}/settings_nan", "settings file {w}/settings_nan/settings.json holds a non-finite number (NaN); delete it, or add --restart"),
    ("search --out {w}/settings_inf", "settings file {w}/settings_inf/settings.json holds a non-finite number (Infinity)"),
    ("search --out {w}/settings_huge", "settings file {w}/settings_huge/settings.json holds a non-finite number (1e999 overflows a float)"),
    ("search --out {w}/settings_bigint", "settings file {w}/settings_bigint/settings.json holds an integer too long to read"),
    ("search --out {w}/settings_deep", "settings file {w}/settings_deep/settings.json is nested too deeply to read"),
    ("search --out {w}/settings_latin1", "settings file {w}/settings_latin1/settings.json is not UTF-8 text"),
    ("search --out {w}/settings_empty", "settings file {w}/settings_empty/settings.json is not valid JSON"),
    ("search --out {w}/settings_cut", "settings file {w}/settings_cut/settings.json is not valid JSON"),
    ("search --out {w}/settings_dir", "settings file {w}/settings_dir/settings.json is a folder, not a file"),
    ("search --out {w}/settings_fifo", "settings file {w}/settings_fifo/settings.json is a pipe, not a file"),
    ("search --out {w}/settings_zero", "settings file {w}/settings_zero/settings.json is a symbolic link, not a file"),
    ("search --out {w}/settings_link", "settings file {w}/settings_link/settings.json is a symbolic link, not a file"),
    ("search --out {w}/settings_schema", "settings file {w}/settings_schema/settings.json is not a spikebits.settings/1 file"),
    ("search --out {w}/settings_list", "settings file {w}/settings_list/settings.json is not a spikebits.settings/1 file"),
    ("search --out {w}/settings_notdict", "settings file {w}/settings_notdict/settings.json is not a spikebits.settings/1 file"),
    ("search --out {w}/settings_noschema", "settings file {w}/settings_noschema/settings.json is not a spikebits.settings/1 file"),
    ("search --out {w}/timeline_only", "holds a run (timeline.json) that records no settings"),
    ("search --out {w}/journal_only", "holds a run (study.journal) that records no settings"),
    ("search --out {w}/pareto_only", "holds a run (pareto.json) that records no settings"),
    ("search --out {w}/dangling_run", "holds a run (run.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_other",
     "the comparison's run folder {w}/cmp_other/runs/random/seed-0 holds a run (timeline.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_nan",
     "the comparison's run folder {w}/cmp_nan/runs/random/seed-0 holds a run (timeline.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_link",
     "the comparison's run folder {w}/cmp_link/runs/random/seed-0 holds a run (timeline.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_fifo",
     "the comparison's run folder {w}/cmp_fifo/runs/random/seed-0 holds a run (timeline.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_settings",
     "runs/random/seed-0 holds a run made with strategy.seed (--seed) = 5, not 0"),
    ("compare --strategies random --seeds 2 --evaluations 2 --out {w}/cmp_seed1",
     "the comparison's run folder {w}/cmp_seed1/runs/random/seed-1 holds a run (run.json) that records no settings"),
    ("compare --strategies random --seeds 1 --evaluations 2 --out {w}/cmp_badsettings",
     "settings file {w}/cmp_badsettings/runs/random/seed-0/settings.json holds a non-finite number (NaN)"),
    # ---- report: damaged compare.json
    ("report {w}/rep_cmp_nan", "comparison file {w}/rep_cmp_nan/compare.json holds a non-finite number (NaN)"),
    ("report {w}/rep_cmp_inf", "comparison file {w}/rep_cmp_inf/compare.json holds a non-finite number (Infinity)"),
    ("report {w}/rep_cmp_huge", "compare.json holds a non-finite number (1e999 overflows a float)"),
    ("report {w}/rep_cmp_bigint", "comparison file {w}/rep_cmp_bigint/compare.json holds an integer too long to read"),
    ("report {w}/rep_cmp_deep", "comparison file {w}/rep_cmp_deep/compare.json is nested too deeply to read"),
    ("report {w}/rep_cmp_latin1", "comparison file {w}/rep_cmp_latin1/compare.json is not UTF-8 text"),
    ("report {w}/rep_cmp_empty", "comparison file {w}/rep_cmp_empty/compare.json is not valid JSON"),
    ("report {w}/rep_cmp_cut", "comparison file {w}/rep_cmp_cut/compare.json is not valid JSON"),
    ("report {w}/rep_cmp_dir", "comparison file {w}/rep_cmp_dir/compare.json is a folder, not a file"),
    ("report {w}/rep_cmp_fifo", "comparison file {w}/rep_cmp_fifo/compare.json is a pipe, not a file"),
    ("report {w}/rep_cmp_zero", "comparison file {w}/rep_cmp_zero/compare.json is a device, not a file"),
    ("report {w}/rep_cmp_objectives_list", "compare.json is invalid at $.objectives: ['accuracy', 'bit_budget'] is not of type 'object'"),
    ("report {w}/rep_cmp_seeds_text", "compare.json is invalid at $.seeds[0]: '0' is not of type 'integer'"),
    ("report {w}/rep_cmp_hv_text", "compare.json is invalid at $.runs[0].hypervolume: 'big' is not of type 'number'"),
    ("report {w}/rep_cmp_hv_negative", "compare.json is invalid at $.runs[0].hypervolume: -1 is less than the minimum of 0"),
    ("report {w}/rep_cmp_schema2", "compare.json is invalid at $.schema: 'spikebits.compare/1' was expected"),
    ("report {w}/rep_cmp_extra_key", "compare.json is invalid at $: Additional properties are not allowed ('oops' was unexpected)"),
    ("report {w}/rep_cmp_toplist", "compare.json is invalid at $: [] is not of type 'object'"),
    ("report {w}/rep_cmp_unknown_strategy", "compare.json is invalid at $.runs[0].strategy: 'annealing' is not one of the strategies"),
    ("report {w}/rep_cmp_created", "compare.json is invalid at $.created: 'yesterday' does not match"),
    ("report {w}/rep_cmp_reference", "compare.json is invalid at $.reference_point: names accuracy, not the objectives accuracy, bit_budget"),
    ("report {w}/rep_cmp_command_empty", "compare.json is invalid at $.command: [] should be non-empty"),
    ("report {w}/rep_cmp_fraction", "compare.json is invalid at $.runs[0].feasible_fraction: 2 is greater than the maximum of 1"),
    ("report {w}/rep_cmp_bigint_seed", "comparison file {w}/rep_cmp_bigint_seed/compare.json holds an integer too long to read"),
    # ---- report: damaged pareto.json (beside a good trials.csv)
    ("report {w}/rep_par_nan", "Pareto file {w}/rep_par_nan/pareto.json holds a non-finite number (NaN)"),
    ("report {w}/rep_par_inf", "Pareto file {w}/rep_par_inf/pareto.json holds a non-finite number (Infinity)"),
    ("report {w}/rep_par_huge", "pareto.json holds a non-finite number (1e999 overflows a float)"),
    ("report {w}/rep_par_bigint", "Pareto file {w}/rep_par_bigint/pareto.json holds an integer too long to read"),
    ("report {w}/rep_par_deep", "Pareto file {w}/rep_par_deep/pareto.json is nested too deeply to read"),
    ("report {w}/rep_par_latin1", "Pareto file {w}/rep_par_latin1/pareto.json is not UTF-8 text"),
    ("report {w}/rep_par_empty", "Pareto file {w}/rep_par_empty/pareto.json is not valid JSON"),
    ("report {w}/rep_par_cut", "Pareto file {w}/rep_par_cut/pareto.json is not valid JSON"),
    ("report {w}/rep_par_dir", "Pareto file {w}/rep_par_dir/pareto.json is a folder, not a file"),
    ("report {w}/rep_par_fifo", "Pareto file {w}/rep_par_fifo/pareto.json is a pipe, not a file"),
    ("report {w}/rep_par_zero", "Pareto file {w}/rep_par_zero/pareto.json is a device, not a file"),
    ("report {w}/rep_par_objectives_list", "pareto.json is invalid at $.objectives: ['accuracy'] is not of type 'object'"),
    ("report {w}/rep_par_hv_text", "pareto.json is invalid at $.hypervolume: '3' is not of type 'number'"),
    ("report {w}/rep_par_hv_negative", "pareto.json is invalid at $.hypervolume: -3.0 is less than the minimum of 0"),
    ("report {w}/rep_par_points_dict", "pareto.json is invalid at $.points: {{}} is not of type 'array'"),
    ("report {w}/rep_par_number_text", "pareto.json is invalid at $.points[0].number: '0' is not of type 'integer'"),
    ("report {w}/rep_par_unknown_metric", "pareto.json is invalid at $.objectives.speed: unknown metric 'speed'"),
    ("report {w}/rep_par_direction", "pareto.json is invalid at $.objectives.accuracy: accuracy is to maximize, not minimize"),
    ("report {w}/rep_par_schema", "pareto.json has schema 'spikebits.compare/1', expected 'spikebits.pareto/1'"),
    ("report {w}/rep_par_feasible_text", "pareto.json is invalid at $.points[0].feasible: 'yes' is not of type 'boolean'"),
    ("report {w}/rep_par_budget_text", "pareto.json is invalid at $.budget.bit_budget: 'low' is not of type 'number'"),
    ("report {w}/rep_par_point_metric", "pareto.json is invalid at $.points[0].metrics: unknown metric 'speed'"),
    ("report {w}/rep_par_toplist", "pareto.json has schema None, expected 'spikebits.pareto/1'"),
    # ---- report: damaged trials.csv (beside a good pareto.json)
    ("report {w}/rep_trials_nan", "trials.csv line 2 is malformed (accuracy is 'nan', not a finite number)"),
    ("report {w}/rep_trials_inf", "trials.csv line 2 is malformed (accuracy is 'inf', not a finite number)"),
    ("report {w}/rep_trials_bigint", "trials.csv line 2 is malformed (number is '9999"),
    ("report {w}/rep_trials_number_text", "trials.csv line 2 is malformed (number is 'x', not a whole number)"),
    ("report {w}/rep_trials_header", "rep_trials_header/trials.csv does not start with the trials.csv header number,state,feasible"),
    ("report {w}/rep_trials_empty", "rep_trials_empty/trials.csv does not start with the trials.csv header"),
    ("report {w}/rep_trials_latin1", "trials file {w}/rep_trials_latin1/trials.csv is not UTF-8 text"),
    ("report {w}/rep_trials_ragged", "trials.csv line 2 is malformed (the row has fewer cells than the header)"),
    ("report {w}/rep_trials_wide_row", "trials.csv line 2 is malformed (the row has more cells than the header)"),
    ("report {w}/rep_trials_state", "trials.csv line 2 is malformed (state is 'DONE', not one of COMPLETE"),
    ("report {w}/rep_trials_config", "trials.csv line 2 is malformed (the config is not valid JSON"),
    ("report {w}/rep_trials_deep_config", "rep_trials_deep_config/trials.csv line 2 is malformed (the config is not valid JSON"),
    ("report {w}/rep_trials_feasible", "trials.csv line 2 is malformed (feasible is 'maybe', not true/false)"),
    ("report {w}/rep_trials_violation", "trials.csv has column 'violation.speed', which names no metric"),
    ("report {w}/rep_trials_no_error", "rep_trials_no_error/trials.csv"),
    ("report {w}/rep_trials_fifo", "trials file {w}/rep_trials_fifo/trials.csv is a pipe, not a file"),
    ("report {w}/rep_trials_dir", "trials file {w}/rep_trials_dir/trials.csv is a folder, not a file"),
    # ---- report: damaged run.json beside a good front (nothing may be redrawn before it is read)
    ("report {w}/rep_run_nan", "run file {w}/rep_run_nan/run.json holds a non-finite number (NaN)"),
    ("report {w}/rep_run_deep", "run file {w}/rep_run_deep/run.json is nested too deeply to read"),
    ("report {w}/rep_run_latin1", "run file {w}/rep_run_latin1/run.json is not UTF-8 text"),
    ("report {w}/rep_run_fifo", "run file {w}/rep_run_fifo/run.json is a pipe, not a file"),
    ("report {w}/rep_run_zero", "run file {w}/rep_run_zero/run.json is a device, not a file"),
    ("report {w}/rep_run_dir", "run file {w}/rep_run_dir/run.json is a folder, not a file"),
    ("report {w}/rep_run_types", "run.json is invalid at $.seed: 'zero' is not of type 'integer'"),
    ("report {w}/pareto_only", "{w}/pareto_only holds neither compare.json nor pareto.json and trials.csv"),
    ("report {w}/timeline_only", "{w}/timeline_only holds neither compare.json nor pareto.json and trials.csv"),
    ("report {dev}", "{dev} is not a folder; give the --out folder of a finished run"),
    ("report {w}/out_fifo", "{w}/out_fifo is not a folder; give the --out folder of a finished run"),
    ("report {w}/link_dangling", "{w}/link_dangling is not a folder"),
    ("report", "the following arguments are required: DIR"),
    ("report {w}/a_folder {w}/prev", "unrecognized arguments: {w}/prev"),
    # ---- hostile data folders: pipes, links to /dev/zero, folders where data files go
    ("evaluate --dataset mnist --data-dir {w}/mnist_fifo --uniform 4/4/1",
     "{w}/mnist_fifo/train-images-idx3-ubyte is a pipe, not a regular file: put the data file itself there"),
    ("evaluate --dataset mnist --data-dir {w}/mnist_zero --uniform 4/4/1",
     "{w}/mnist_zero/train-images-idx3-ubyte is a device (a link to /dev/zero), not a regular file"),
    ("evaluate --dataset mnist --data-dir {w}/mnist_gz_fifo --uniform 4/4/1", "{w}/mnist_gz_fifo/train-images-idx3-ubyte.gz is a pipe"),
    ("evaluate --dataset mnist --data-dir {w}/mnist_nested --uniform 4/4/1", "{w}/mnist_nested/MNIST/raw/train-images-idx3-ubyte is a pipe"),
    ("evaluate --dataset mnist --data-dir {w}/mnist_dirs --uniform 4/4/1", "{w}/mnist_dirs/train-images-idx3-ubyte is a folder, not a regular file"),
    ("evaluate --dataset mnist --data-dir {w}/mnist_partial --uniform 4/4/1", "{w}/mnist_partial/train-labels-idx1-ubyte[.gz] is missing"),
    ("evaluate --dataset mnist --data-dir {w}/a_folder --uniform 4/4/1", "no MNIST files in {w}/a_folder"),
    ("evaluate --dataset mnist --uniform 4/4/1", "mnist is read from files on disk and no data folder was given"),
    ("evaluate --dataset fashion_mnist --data-dir {w}/fashion_fifo --uniform 4/4/1",
     "{w}/fashion_fifo/FashionMNIST/raw/train-images-idx3-ubyte is a pipe"),
    ("evaluate --dataset kmnist --data-dir {w}/kmnist_zero --uniform 4/4/1", "{w}/kmnist_zero/train-images-idx3-ubyte is a device (a link to /dev/zero)"),
    ("evaluate --dataset cifar10 --data-dir {w}/cifar_fifo --uniform 4/4/1", "{w}/cifar_fifo/cifar-10-batches-py/data_batch_1 is a pipe"),
    ("evaluate --dataset cifar10 --data-dir {w}/cifar_flat_fifo --uniform 4/4/1", "{w}/cifar_flat_fifo/data_batch_1 is a pipe"),
    ("evaluate --dataset cifar10 --data-dir {w}/cifar_zero --uniform 4/4/1", "{w}/cifar_zero/data_batch_1 is a device (a link to /dev/zero)"),
    ("evaluate --dataset cifar100 --data-dir {w}/cifar100_fifo --uniform 4/4/1", "{w}/cifar100_fifo/cifar-100-python/train is a pipe"),
    ("evaluate --dataset shd --data-dir {w}/shd_fifo --uniform 4/4/1", "shd: {w}/shd_fifo/SHD/shd_train.h5 is a pipe"),
    ("evaluate --val-fraction 0.9999 --uniform 4/4/1", "--val-fraction 0.9999 leaves 0 of 1437 samples kept for training"),
    ("evaluate --uniform 4/4/1 --data-dir {w}/out_fifo", "--data-dir {w}/out_fifo is not a folder"),
    ("evaluate --uniform 4/4/1 --data-dir {dev}", "--data-dir {dev} is not a folder"),
    ("evaluate --uniform 4/4/1 --cache-dir {w}/out_fifo", "--cache-dir {w}/out_fifo is not a folder"),
    ("evaluate --uniform 4/4/1 --cache-dir {dev}", "--cache-dir {dev} is not a folder"),
    ("evaluate --uniform 4/4/1 --cache-dir {w}/link.json", "--cache-dir {w}/link.json is not a folder"),
    # A bad data folder or split must be refused before the run claims its --out (no folder,
    # settings.json or lock left behind) and before any trial runs.
    ("search --val-fraction 0.9999 --out {w}/vf_search", "--val-fraction 0.9999 leaves 0 of 1437 samples kept for training"),
    ("search --strategy random --trials 2 --val-fraction 0.9999 --quiet --out {w}/vf_random",
     "--val-fraction 0.9999 leaves 0 of 1437 samples kept for training"),
    ("compare --evaluations 1 --strategies random --val-fraction 0.9999 --out {w}/vf_compare",
     "--val-fraction 0.9999 leaves 0 of 1437 samples kept for training"),
    ("sensitivity --val-fraction 0.9999 --out {w}/vf_sensitivity", "--val-fraction 0.9999 leaves 0 of 1437 samples kept for training"),
    ("search --dataset mnist --data-dir {w}/mnist_fifo --out {w}/fifo_search", "{w}/mnist_fifo/train-images-idx3-ubyte is a pipe"),
    ("search --strategy nsga2 --trials 2 --dataset mnist --data-dir {w}/mnist_fifo --quiet --out {w}/fifo_nsga2",
     "{w}/mnist_fifo/train-images-idx3-ubyte is a pipe"),
    ("sensitivity --dataset mnist --data-dir {w}/mnist_fifo --out {prev}", "{w}/mnist_fifo/train-images-idx3-ubyte is a pipe"),
    ("compare --evaluations 1 --dataset mnist --data-dir {w}/mnist_fifo --out {prev}", "{w}/mnist_fifo/train-images-idx3-ubyte is a pipe"),
    # ---- resource bounds: architecture sizes
    ("space --model resnet20 --model-arg widths=[0,16,16]", "resnet20: widths must be >= 1, got [0, 16, 16]"),
    ("space --model resnet20 --model-arg widths=[-8,16,16]", "resnet20: widths must be >= 1, got [-8, 16, 16]"),
    ("space --model resnet20 --model-arg widths=[99999999,16,16]", "99999999 is above 65536, the largest widths allowed"),
    ("space --model resnet20 --model-arg widths=[]", "resnet20: widths is empty; give at least one size"),
    ("space --model resnet20 --model-arg widths=[8.5,16,16]", "resnet20: widths must be whole numbers, got [8.5, 16, 16]"),
    ("space --model resnet20 --model-arg widths=[[8]]", "widths must be whole numbers, got [[8]]"),
    ("space --model resnet20 --model-arg widths=true", "widths must be a whole number (or a list of them), got True"),
    ("space --model resnet20 --model-arg blocks=100000", "resnet20: blocks=100000: 100000 is above 1000, the largest blocks allowed"),
    ("space --model resnet20 --model-arg blocks=0", "resnet20: blocks must be >= 1, got 0"),
    ("space --model resnet20 --model-arg blocks=-1", "resnet20: blocks must be >= 1, got -1"),
    ("space --model resnet20 --model-arg widths=[16,32,65536]", "needs about 720 GiB for its weights alone"),
    ("space --model resnet20 --model-arg neuron=quantum", "resnet20: unknown neuron 'quantum'"),
    ("space --model resnet20 --model-arg widths=[8,16,16]x", "the value is neither JSON nor a plain word"),
    ("space --model resnet20 --model-arg =3", "'=3' is not KEY=VALUE"),
    ("space --model resnet20 --model-arg in_channels=3", "in_channels is set by --dataset and --input-shape"),
    ("space --model spikformer --model-arg embed_dim=99999999", "spikformer: embed_dim=99999999: 99999999 is above 65536"),
    ("space --model spikformer --model-arg embed_dim=0", "spikformer: embed_dim must be >= 1, got 0"),
    ("space --model spikformer --model-arg embed_dim=-8", "spikformer: embed_dim must be >= 1, got -8"),
    ("space --model spikformer --model-arg depth=100000", "spikformer: depth=100000: 100000 is above 1000"),
    ("space --model spikformer --model-arg depth=-1", "spikformer: depth must be >= 1, got -1"),
    ("space --model spikformer --model-arg heads=0", "spikformer: heads must be >= 1, got 0"),
    ("space --model spikformer --model-arg heads=99999999", "spikformer: heads=99999999: 99999999 is above 65536"),
    ("space --model spikformer --model-arg mlp_ratio=0", "spikformer: mlp_ratio must be a number above 0, got 0"),
    ("space --model spikformer --model-arg mlp_ratio=1e9", "spikformer: mlp_ratio = 1e+09 is above 2048"),
    ("space --model spikformer --model-arg mlp_ratio=nan", "mlp_ratio"),
    ("space --model spikformer --model-arg embed_dim=8 --model-arg heads=3", "spikformer: embed_dim 8 is not divisible by heads 3"),
    ("space --model spikformer --model-arg embed_dim=65536 --model-arg depth=1000", "mlp_ratio 4 × embed_dim 65536 gives 262144 features, above 65536"),
    ("space --model vgg_dvs --model-arg widths=[0]", "vgg_dvs: widths must be >= 1, got [0]"),
    ("space --model vgg_dvs --model-arg widths=[8,-1]", "vgg_dvs: widths must be >= 1, got [8, -1]"),
    ("space --model vgg_dvs --model-arg widths=[99999999]", "vgg_dvs: widths=[99999999]: 99999999 is above 65536"),
    ("space --model vgg_dvs --model-arg hidden=0", "vgg_dvs: hidden must be >= 1, got 0"),
    ("space --model vgg_dvs --model-arg hidden=99999999", "vgg_dvs: hidden=99999999: 99999999 is above 65536"),
    ("space --model sew_resnet18 --model-arg widths=[0,1,1,1]", "sew_resnet18: widths must be >= 1, got [0, 1, 1, 1]"),
    ("space --model sew_resnet18 --model-arg widths=[99999999,64,64,64]", "sew_resnet18: widths=[99999999, 64, 64, 64]: 99999999 is above 65536"),
    ("space --model sew_resnet18 --model-arg blocks=[2,2,2,99999]", "sew_resnet18: blocks=[2, 2, 2, 99999]: 99999 is above 1000"),
    ("space --model sew_resnet18 --model-arg blocks=[0,2,2,2]", "sew_resnet18: blocks must be >= 1, got [0, 2, 2, 2]"),
    ("space --model sew_resnet34 --model-arg embed_dim=8", "sew_resnet34 does not take 'embed_dim'"),
    ("space --model resnet19 --model-arg widths=[0,1,1]", "resnet19: widths must be >= 1, got [0, 1, 1]"),
    ("space --model digits_cnn --model-arg width=0", "digits_cnn: width must be a number above 0, got 0"),
    ("space --model digits_cnn --model-arg width=-1", "digits_cnn: width must be a number above 0, got -1"),
    ("space --model digits_cnn --model-arg width=1e9", "digits_cnn: width = 1e+09 is above 2048"),
    ("space --dataset mnist --model spikformer --model-arg embed_dim=99999999", "spikformer: embed_dim=99999999: 99999999 is above 65536"),
    ("search --model resnet20 --model-arg widths=[0,16,16] --out {prev}", "resnet20: widths must be >= 1, got [0, 16, 16]"),
    ("search --model resnet20 --model-arg widths=[8192,8192,8192] --dataset cifar10 --out {prev}",
     "resnet20 with widths=[8192, 8192, 8192] on cifar10 at T=4, batch 64 needs about 461 GiB to train"),
    ("evaluate --model spikformer --model-arg embed_dim=99999999 --uniform 4/4/1", "spikformer: embed_dim=99999999: 99999999 is above 65536"),
    ("evaluate --model spikformer --model-arg embed_dim=8192 --model-arg depth=64 --dataset cifar10 --uniform 4/4/1",
     "spikformer: embed_dim 8192 is not divisible by heads 12"),
    ("evaluate --model vgg_dvs --model-arg hidden=0 --uniform 4/4/1 --cost-only", "vgg_dvs: hidden must be >= 1, got 0"),
    ("evaluate --model resnet20 --model-arg widths=[4096,4096,4096] --dataset cifar10 --uniform 4/4/1",
     "resnet20 with widths=[4096, 4096, 4096] on cifar10 at T=1, batch 64 needs about 98.8 GiB to train"),
    ("sensitivity --model sew_resnet18 --model-arg widths=[0,1,1,1] --out {prev}", "sew_resnet18: widths must be >= 1, got [0, 1, 1, 1]"),
    ("sensitivity --model spikformer --model-arg embed_dim=99999999", "spikformer: embed_dim=99999999: 99999999 is above 65536"),
    ("sensitivity --model resnet20 --model-arg widths=[4096,4096,4096] --dataset cifar10 --out {prev}", "needs about 98.8 GiB to train"),
    ("sensitivity --model-arg width", "'width' is not KEY=VALUE"),
    ("export --model resnet20 --model-arg blocks=0 --checkpoint {w}/random.ckpt --out {w}/m.sbq", "resnet20: blocks must be >= 1, got 0"),
    ("export --checkpoint {w}/state_shape.ckpt --model resnet20 --model-arg widths=[65536,65536,65536] --out {w}/m.sbq",
     "needs about 2.56 TiB for its weights alone"),
    ("compare --evaluations 1 --model spikformer --model-arg depth=100000 --out {prev}", "spikformer: depth=100000: 100000 is above 1000"),
    # ---- resource bounds: time steps and counts
    ("evaluate --uniform 4/4/99999999", "timesteps=99999999 (layer conv2) is above 4096"),
    ("evaluate --uniform 4/4/4097", "timesteps=4097 (layer conv2) is above 4096"),
    ("evaluate --uniform 4/4/4096 --model resnet20 --dataset cifar10", "resnet20 on cifar10 at T=4096, batch 64 needs about 4.78 TiB to train"),
    ("evaluate --config {w}/config_t_huge.json", "timesteps=99999999 (layer conv2) is above 4096"),
    ("search --space {w}/space_t_huge.json --out {prev}", "timesteps=99999999 (layer conv2) is above 4096"),
    ("search --workers 100000", "--workers: 100000 must be at most 256"),
    ("search --workers 257", "--workers: 257 must be at most 256"),
    ("search --workers x", "--workers: 'x' is not a whole number"),
    ("search --trials 10000000", "--trials: 10000000 must be at most 100000"),
    ("search --strategy random --trials 100001 --out {prev}", "--trials: 100001 must be at most 100000"),
    ("search --trials -3", "--trials: -3 must be at least 1"),
    ("search --trials nan", "--trials: 'nan' is not a whole number"),
    ("search --epochs 10000000", "--epochs: 10000000 must be at most 100000"),
    ("search --epochs 1.5", "--epochs: '1.5' is not a whole number"),
    ("search --epochs inf", "--epochs: 'inf' is not a whole number"),
    ("search --threads 100000", "--threads: 100000 must be at most 1024"),
    ("search --threads -1", "--threads: -1 must be at least 1"),
    ("search --threads two", "--threads: 'two' is not a whole number"),
    ("search --pretrain-epochs 10000000", "--pretrain-epochs: 10000000 must be at most 100000 (or auto)"),
    ("search --pretrain-epochs nan", "--pretrain-epochs: 'nan' is not a whole number (or auto)"),
    ("search --scoring one-shot --one-shot-epochs 10000000 --out {prev}", "--one-shot-epochs: 10000000 must be at most 100000"),
    ("search --scoring one-shot --one-shot-epochs nan --out {prev}", "--one-shot-epochs: 'nan' is not a whole number"),
    ("search --scoring one-shot --bn-batches 10000000 --out {prev}", "--bn-batches: 10000000 must be at most 100000"),
    ("search --scoring one-shot --bn-batches -1 --out {prev}", "--bn-batches: -1 must be at least 1"),
    ("search --strategy nsga2 --population-size 100000000 --out {prev}", "nsga2 option population_size = 100000000 must be at most 100000"),
    ("search --strategy nsga2 --population-size -1 --out {prev}", "nsga2 option population_size = -1 must be at least 2"),
    ("search --strategy nsga2 --population-size x --out {prev}", "--population-size: invalid int value: 'x'"),
    ("search --strategy differentiable --supernet-epochs 10000000 --out {prev}", "supernet_epochs = 10000000 must be at most 100000"),
    ("search --strategy differentiable --supernet-epochs -1 --out {prev}", "supernet_epochs = -1 must be at least 1"),
    ("search --strategy differentiable --batch-size 100000000 --out {prev}", "batch_size = 100000000 must be at most 100000"),
    ("search --strategy differentiable --batch-size 0 --out {prev}", "batch_size = 0 must be at least 1"),
    ("search --strategy differentiable --batch-size -64 --out {prev}", "batch_size = -64 must be at least 1"),
    ("search --strategy random --probes 10000000 --out {prev}", "random option probes = 10000000 must be at most 100000"),
    ("search --strategy random --probes 0 --out {prev}", "random option probes = 0 must be at least 1"),
    ("search --strategy random --probes nan --out {prev}", "--probes: invalid int value: 'nan'"),
    ("search --strategy boost --probes -5 --out {prev}", "boost option probes = -5 must be at least 1"),
    ("search --ray --max-concurrent 100000", "--max-concurrent: 100000 must be at most 10000"),
    ("search --ray --cpus-per-trial 100000", "--cpus-per-trial: 100000 must be at most 1024"),
    ("search --ray --gpus-per-trial -1", "--gpus-per-trial: -1 must be 0 or more"),
    ("search --ray --gpus-per-trial 2000", "--gpus-per-trial: 2000 must be at most 1024"),
    ("search --ray --max-failures 100000", "--max-failures: 100000 must be at most 10000"),
    ("search --ray --max-failures nan", "--max-failures: 'nan' is not a whole number"),
    ("compare --seeds 100000000 --evaluations 1 --out {prev}", "--seeds: 100000000 must be at most 1000"),
    ("compare --seeds 1001 --evaluations 1 --out {prev}", "--seeds: 1001 must be at most 1000"),
    ("compare --seeds -1 --evaluations 1 --out {prev}", "--seeds: -1 must be at least 1"),
    ("compare --seeds x --evaluations 1 --out {prev}", "--seeds: 'x' is not a whole number"),
    ("compare --evaluations 10000000 --out {prev}", "--evaluations: 10000000 must be at most 100000"),
    ("compare --evaluations -1 --out {prev}", "--evaluations: -1 must be at least 1"),
    ("compare --evaluations nan --out {prev}", "--evaluations: 'nan' is not a whole number"),
    ("compare --evaluations 1 --epochs 10000000 --out {prev}", "--epochs: 10000000 must be at most 100000"),
    ("compare --evaluations 1 --workers 100000 --out {prev}", "--workers: 100000 must be at most 256"),
    ("evaluate --uniform 4/4/1 --lanes 100000", "--lanes: 100000 must be at most 65536"),
    ("evaluate --uniform 4/4/1 --lanes -1", "--lanes: -1 must be at least 1"),
    ("evaluate --uniform 4/4/1 --lanes x", "--lanes: 'x' is not a whole number"),
    ("evaluate --uniform 4/4/1 --simulate-samples 10000000", "--simulate-samples: 10000000 must be at most 1000000"),
    ("evaluate --uniform 4/4/1 --simulate-samples nan", "--simulate-samples: 'nan' is not a whole number"),
    ("evaluate --uniform 4/4/1 --epochs 10000000", "--epochs: 10000000 must be at most 100000"),
    ("evaluate --uniform 4/4/1 --epochs -2", "--epochs: -2 must be 0 or more"),
    ("evaluate --uniform 4/4/1 --workers 100000", "--workers: 100000 must be at most 256"),
    ("evaluate --checkpoint {w}/state_shape.ckpt --epochs 10000000", "--epochs: 10000000 must be at most 100000"),
    ("sensitivity --probes 10000000", "--probes: 10000000 must be at most 100000"),
    ("sensitivity --probes nan", "--probes: 'nan' is not a whole number"),
    ("sensitivity --batches 10000000", "--batches: 10000000 must be at most 100000"),
    ("sensitivity --batches x", "--batches: 'x' is not a whole number"),
    ("sensitivity --workers 100000", "--workers: 100000 must be at most 256"),
    # ---- output side effects: pipes, devices, files and links where an output goes
    ("search --out {w}/out_fifo", "--out {w}/out_fifo is a pipe, not a folder"),
    ("search --restart --out {w}/out_fifo", "--out {w}/out_fifo is a pipe, not a folder"),
    ("search --out {w}/link_null", "--out {w}/link_null is a device, not a folder"),
    ("search --out {w}/link.json", "--out {w}/link.json is a file, not a folder"),
    ("search --out {w}/link_dangling", "--out {w}/link_dangling is"),
    ("search --out {w}/lock_fifo", "{w}/lock_fifo/.spikebits.lock is a pipe, not spikebits' lock file"),
    ("search --restart --out {w}/lock_fifo", "{w}/lock_fifo/.spikebits.lock is a pipe, not spikebits' lock file"),
    ("search --out {w}/lock_hard", "{w}/lock_hard/.spikebits.lock is a file with 2 names (a hard link), not spikebits' lock file"),
    ("search --strategy random --out {w}/lock_hard", "{w}/lock_hard/.spikebits.lock is a file with 2 names (a hard link)"),
    ("search --out {w}/lock_link", "{w}/lock_link/.spikebits.lock is a symbolic link, not spikebits' lock file"),
    ("search --out {w}/lock_dir", "{w}/lock_dir/.spikebits.lock is a folder, not spikebits' lock file"),
    ("search --out {w}/lock_dangling", "{w}/lock_dangling/.spikebits.lock is a symbolic link, not spikebits' lock file"),
    ("search --out {w}/lock_zero", "{w}/lock_zero/.spikebits.lock is a symbolic link, not spikebits' lock file"),
    ("compare --evaluations 1 --strategies random --out {w}/plain.txt", "--out {w}/plain.txt is a file, not a folder"),
    ("compare --evaluations 1 --strategies random --out {w}/out_fifo", "--out {w}/out_fifo is a pipe, not a folder"),
    ("compare --evaluations 1 --strategies random --out {w}/link_null", "--out {w}/link_null is a device, not a folder"),
    ("compare --evaluations 1 --strategies random --out {w}/lock_fifo", "{w}/lock_fifo/.spikebits.lock is a pipe, not spikebits' lock file"),
    ("compare --evaluations 1 --strategies random --out {w}/lock_hard", "{w}/lock_hard/.spikebits.lock is a file with 2 names (a hard link)"),
    ("compare --evaluations 1 --strategies random --out {w}/lock_link", "{w}/lock_link/.spikebits.lock is a symbolic link"),
    ("compare --strategies random --evaluations 1 --restart --out {w}/lock_link", "{w}/lock_link/.spikebits.lock is a symbolic link"),
    ("compare --evaluations 1 --strategies random --out {w}/lock_dir", "{w}/lock_dir/.spikebits.lock is a folder, not spikebits' lock file"),
    ("sensitivity --out {w}/out_fifo", "--out {w}/out_fifo is a pipe, not a folder"),
    ("sensitivity --out {dev}", "--out {dev} is a device, not a folder"),
    ("sensitivity --out {w}/plain.txt/deeper", "--out {w}/plain.txt/deeper is inside a file, not a folder"),
    ("sensitivity --out {w}/lock_fifo", "{w}/lock_fifo/.spikebits.lock is a pipe, not spikebits' lock file"),
    ("sensitivity --out {w}/lock_hard", "{w}/lock_hard/.spikebits.lock is a file with 2 names (a hard link)"),
    ("sensitivity --out {w}/lock_link", "{w}/lock_link/.spikebits.lock is a symbolic link"),
    ("sensitivity --out {w}/lock_dir", "{w}/lock_dir/.spikebits.lock is a folder, not spikebits' lock file"),
    ("sensitivity --out {w}/lock_zero", "{w}/lock_zero/.spikebits.lock is a symbolic link"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/a_folder", "--out {w}/a_folder is a folder; give the path of a regular file"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/link.json", "--out {w}/link.json is a symbolic link"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/link_null", "--out {w}/link_null is a symbolic link"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/link_dangling", "--out {w}/link_dangling is a symbolic link"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/out_fifo", "--out {w}/out_fifo is a pipe; give the path of a regular file"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/plain.txt/m.sbq", "cannot write --out {w}/plain.txt/m.sbq: {w}/plain.txt is not a folder"),
    ("space --out {w}/out_fifo", "--out {w}/out_fifo is a pipe; give the path of a regular file"),
    ("space --out {w}/a_folder", "--out {w}/a_folder is a folder; give the path of a regular file"),
    ("space --out {w}/plain.txt/s.json", "cannot write --out {w}/plain.txt/s.json: {w}/plain.txt is not a folder"),
    ("space --out {w}/link_null", "--out {w}/link_null is a symbolic link"),
    ("space --out {w}/link_dangling", "--out {w}/link_dangling is a symbolic link"),
    ("space --out {w}/link_prev", "--out {w}/link_prev is a symbolic link"),
    ("evaluate --uniform 4/4/1 --report {w}/out_fifo", "--report {w}/out_fifo is a pipe"),
    ("evaluate --uniform 4/4/1 --report {w}/a_folder", "--report {w}/a_folder is a folder"),
    ("evaluate --uniform 4/4/1 --report {w}/plain.txt/r.json", "cannot write --report {w}/plain.txt/r.json: {w}/plain.txt is not a folder"),
    ("evaluate --uniform 4/4/1 --report {w}/link_null", "--report {w}/link_null is a symbolic link"),
    ("evaluate --uniform 4/4/1 --report {w}/link_dangling", "--report {w}/link_dangling is a symbolic link"),
    ("evaluate --uniform 4/4/1 --cost-only --report {w}/out_fifo", "--report {w}/out_fifo is a pipe"),
    ("evaluate --uniform 4/4/1 --cost-only --report {dev}", "--report {dev} is a device"),
    ("evaluate --uniform 4/4/1 --cost-only --report {w}/link_prev", "--report {w}/link_prev is a symbolic link"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {dev}", "--save-checkpoint {dev} is a device"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {w}/out_fifo", "--save-checkpoint {w}/out_fifo is a pipe"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {w}/link.json", "--save-checkpoint {w}/link.json is a symbolic link"),
    ("evaluate --uniform 4/4/1 --save-checkpoint {w}/link_prev", "--save-checkpoint {w}/link_prev is a symbolic link"),
    ("evaluate --checkpoint {w}/state_shape.ckpt --report {w}/out_fifo", "--report {w}/out_fifo is a pipe"),
    # ---- bad values: the common options
    ("search --seed 1e3", "--seed: '1e3' is not a whole number"),
    ("search --seed nan", "--seed: 'nan' is not a whole number"),
    ("sensitivity --seed -1", "--seed: -1 must be a whole number from 0 to 4294967295"),
    ("search --lr 0", "--lr: 0 must be more than 0"),
    ("search --lr 1e999", "--lr: '1e999' is not a finite number"),
    ("evaluate --uniform 4/4/1 --lr nan", "--lr: 'nan' is not a finite number"),
    ("search --train-fraction nan", "--train-fraction: 'nan' is not a finite number"),
    ("search --train-fraction -0.5", "--train-fraction: -0.5 must be above 0 and at most 1"),
    ("search --train-fraction one", "--train-fraction: 'one' is not a number"),
    ("evaluate --uniform 4/4/1 --train-fraction 0", "--train-fraction: 0 must be above 0 and at most 1"),
    ("search --val-fraction 1", "--val-fraction: 1 must be above 0 and below 1"),
    ("search --val-fraction -0.1", "--val-fraction: -0.1 must be above 0 and below 1"),
    ("search --val-fraction 1e999", "--val-fraction: '1e999' is not a finite number"),
    ("evaluate --uniform 4/4/1 --val-fraction 2", "--val-fraction: 2 must be above 0 and below 1"),
    ("evaluate --uniform 4/4/1 --pretrain-epochs 0", "--pretrain-epochs: 0 must be at least 1 (or auto)"),
    ("evaluate --uniform 4/4/1 --threads 0", "--threads: 0 must be at least 1"),
    ("evaluate --uniform 4/4/1 --augment on", "data set digits has no training augmentation to switch on"),
    ("evaluate --uniform 4/4/1 --augment yes", "--augment: invalid choice: 'yes'"),
    ("evaluate --uniform 4/4/1 --device meta", "device 'meta' cannot train here"),
    ("evaluate --uniform 4/4/1 --device cuda:x", "unknown device 'cuda:x'"),
    ("evaluate --uniform 4/4/1 --device cuda:-1", "unknown device 'cuda:-1'"),
    ("search --input-shape 3,32", "'3,32' is not C,H,W with three positive sizes"),
    ("search --input-shape 3,32,32,32", "'3,32,32,32' is not C,H,W with three positive sizes"),
    ("search --input-shape -3,32,32", "--input-shape: expected one argument"),
    ("search --input-shape 3.5,32,32", "'3.5,32,32' is not C,H,W with three positive sizes"),
    ("search --input-shape ,,", "',,' is not C,H,W with three positive sizes"),
    ("space --input-shape 16385,1,1", "input shape 16385,1,1 has a size above 16384"),
    ("space --model resnet20 --input-shape 3,0,32", "'3,0,32' is not C,H,W with three positive sizes"),
    ("space --dataset imagenet", "unknown data set 'imagenet'"),
    ("space --unpin-first --model nope", "unknown model 'nope'"),
    ("space --model-arg heads", "'heads' is not KEY=VALUE"),
    ("sensitivity --model nope", "unknown model 'nope'"),
    ("sensitivity --dataset imagenet", "unknown data set 'imagenet'"),
    ("sensitivity --device tpu --out {prev}", "unknown device 'tpu'"),
    ("sensitivity --hessian-network quantised", "--hessian-network: invalid choice: 'quantised'"),
    ("sensitivity --space {w}/typo_space.json", "space file: unknown key 'pined'"),
    ("sensitivity --energy-model {w}/energy.yaml", "is neither a preset (horowitz45nm, bitserial45nm, loihi) nor a .toml/.json file"),
    # ---- bad values: objectives and budgets
    ("search --objectives accuracy,accuracy --out {prev}", "objective listed twice in accuracy,accuracy"),
    ("search --objectives , --out {prev}", "no objectives given"),
    ("search --objectives accuracy,bit_budget,test_accuracy --out {prev}", "test_accuracy is read once, to report"),
    ("search --objectives ACCURACY,bit_budget --out {prev}", "unknown metric 'ACCURACY'"),
    ("search --budget bit_budget<=inf --out {prev}", "budget 'bit_budget<=inf' needs a finite limit"),
    ("search --budget bit_budget<=1e999 --out {prev}", "budget 'bit_budget<=1e999' needs a finite limit"),
    ("search --budget energy_pj<=nan --out {prev}", "budget 'energy_pj<=nan' needs a finite limit"),
    ("search --budget bit_budget<= --out {prev}", "budget 'bit_budget<=' is malformed; write METRIC<=NUMBER"),
    ("search --budget <=2 --out {prev}", "budget '<=2' is malformed"),
    ("search --budget bit_budget<=two --out {prev}", "budget 'bit_budget<=two' is malformed"),
    ("search --budget bit_budget==2 --out {prev}", "budget 'bit_budget==2' is malformed"),
    ("search --budget bit_budget<=2,s_ace<=1 --out {prev}", "budget 'bit_budget<=2,s_ace<=1' is malformed"),
    ("search --strategy random --budget accuracy>=0.5 --out {prev}", "budget 'accuracy>=0.5' is malformed"),
    ("search --budget speed<=2 --out {prev}", "budget 'speed<=2' names unknown metric 'speed'"),
    ("search --budget bit_budget<=2 --budget bit_budget<=3 --out {prev}", "metric 'bit_budget' is budgeted twice"),
    ("search --budget firing_rate<=-0.1 --out {prev}", "firing_rate is never negative"),
    ("search --budget s_ace<=0 --out {prev}", "budget s_ace<=0 cannot be met"),
    ("search --budget size_bits<=1 --out {prev}", "budget size_bits<=1 cannot be met"),
    ("compare --evaluations 1 --objectives bit_budget --out {prev}", "--objectives bit_budget leaves out accuracy"),
    ("compare --evaluations 1 --objectives accuracy,speed --out {prev}", "unknown metric 'speed'"),
    ("compare --evaluations 1 --budget bit_budget<=-1 --out {prev}", "bit_budget is never negative"),
    ("compare --evaluations 1 --budget bit_budget<=0.5 --out {prev}", "budget bit_budget<=0.5 cannot be met"),
    # ---- bad values: compare's own options
    ("compare --time-budget 0 --out {prev}", "--time-budget: 0 must be more than 0"),
    ("compare --time-budget nan --out {prev}", "--time-budget: 'nan' is not a finite number"),
    ("compare --time-budget 1e999 --out {prev}", "--time-budget: '1e999' is not a finite number"),
    ("compare --time-budget soon --out {prev}", "--time-budget: 'soon' is not a number"),
    ("compare --out {prev}", "one of the arguments --evaluations --time-budget is required"),
    ("compare --evaluations 1 --time-budget 5 --out {prev}", "--time-budget: not allowed with argument --evaluations"),
    ("compare --evaluations 1 --strategies , --out {prev}", "--strategies names no strategy"),
    ("compare --evaluations 1 --strategies RANDOM --out {prev}", "unknown strategy 'RANDOM'"),
    ("compare --evaluations 1 --resume --out {prev}", "a comparison resumes by itself"),
    ("compare --evaluations 1 --ray --max-concurrent 0 --out {prev}", "--max-concurrent: 0 must be at least 1"),
    ("compare --evaluations 1 --scoring one-shot --bn-batches 0 --out {prev}", "--bn-batches: 0 must be at least 1"),
    ("compare --evaluations 1 --space {w}/nan_space.json --out {prev}", "space file holds a non-finite number (NaN)"),
    ("compare --evaluations 1 --energy-model {w}/energy_nan.toml --out {prev}", "synop_pj = nan must be a finite number >= 0"),
    ("compare --evaluations 1 --model nope --out {prev}", "unknown model 'nope'"),
    ("compare --evaluations 1 --dataset imagenet --out {prev}", "unknown data set 'imagenet'"),
    ("compare --evaluations 1 --device tpu --out {prev}", "unknown device 'tpu'"),
    # ---- bad values: the executor
    ("search --max-concurrent 3 --out {prev}", "--resume, --max-failures, --max-concurrent and --ray-storage need --ray"),
    ("search --ray-storage {w}/a_folder --out {prev}", "--resume, --max-failures, --max-concurrent and --ray-storage need --ray"),
    ("search --max-failures 2 --out {prev}", "--resume, --max-failures, --max-concurrent and --ray-storage need --ray"),
    ("search --reduction-factor 0 --out {prev}", "--reduction-factor sets η of the local --early-stop"),
    ("search --reduction-factor x", "--reduction-factor: invalid int value: 'x'"),
    ("search --strategy random --early-stop --reduction-factor -2 --out {prev}", "--reduction-factor must be a whole number of at least 2, not -2"),
    # ---- bad values: the strategies' options (`spikebits strategies`)
    ("search --strategy gumbel --temperature 5 --out {prev}", "gumbel option temperature needs 2 numbers, for example 5/0.5; got 1"),
    ("search --strategy gumbel --temperature 0/0.5 --out {prev}", "gumbel option temperature = (0.0, 0.5) must be two numbers > 0"),
    ("search --strategy gumbel --temperature -5/0.5 --out {prev}", "--temperature: expected one argument"),
    ("search --strategy gumbel --temperature nan/0.5 --out {prev}", "gumbel option temperature must be finite numbers"),
    ("search --strategy gumbel --temperature 5/inf --out {prev}", "gumbel option temperature must be finite numbers"),
    ("search --strategy gumbel --temperature a/b --out {prev}", "gumbel option temperature 'a/b' is malformed"),
    ("search --strategy gumbel --temperature 5/0.5/1 --out {prev}", "gumbel option temperature needs 2 numbers, for example 5/0.5; got 3"),
    ("search --strategy differentiable --temperature 5/0.5 --out {prev}", "--temperature applies to gumbel; the differentiable strategy does not take it"),
    ("search --strategy differentiable --lambdas nan/0.1/0.1 --out {prev}", "differentiable option lambdas must be finite numbers"),
    ("search --strategy differentiable --lambdas 1e999/0/0 --out {prev}", "differentiable option lambdas must be finite numbers"),
    ("search --strategy differentiable --lambdas -1/0.1/0.1 --out {prev}", "--lambdas: expected one argument"),
    ("search --strategy differentiable --lambdas a/b/c --out {prev}", "differentiable option lambdas 'a/b/c' is malformed"),
    ("search --strategy differentiable --lambdas 0.1/0.1/0.1/0.1 --out {prev}", "lambdas 0.1/0.1/0.1/0.1 has a fourth number, λ_U, but the space searches no membrane widths"),
    ("search --strategy differentiable --lambdas 0.1/0.1/0.1/0.1/0.1 --out {prev}", "lambdas needs 3 numbers, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01 (or 4 with λ_U of a membrane target); got 5"),
    ("search --strategy differentiable --init-bits 4/4 --out {prev}", "init_bits '4/4' is unknown; use largest, W/S/T or W/S/T/U"),
    ("search --strategy differentiable --init-bits 0/4/1 --out {prev}", "init_bits '0/4/1' is unknown"),
    ("search --strategy differentiable --init-bits 4/4/0 --out {prev}", "init_bits '4/4/0' is unknown"),
    ("search --strategy differentiable --init-bits 4pp/4/1 --out {prev}", "init_bits '4pp/4/1' is unknown"),
    ("search --strategy differentiable --init-bits smallest --out {prev}", "init_bits 'smallest' is unknown"),
    ("search --strategy gumbel --init-bits x/y/z --out {prev}", "init_bits 'x/y/z' is unknown"),
    ("search --strategy differentiable --init-bits 4/99/1 --out {prev}", "target s_bits = 99 is above 16, the most any layer can have"),
    ("search --strategy differentiable --init-bits 4/4/99999999 --out {prev}", "target timesteps = 1e+08 is above 4096"),
    ("search --strategy differentiable --targets 99/1/1 --out {prev}", "target w_bits = 99 is above 16"),
    ("search --strategy differentiable --targets 1/1/1,2/2/1,1/1/1 --out {prev}", "target 1/1/1 is given twice"),
    ("search --strategy differentiable --supernet-lr 0 --out {prev}", "supernet_lr = 0.0 must be more than 0"),
    ("search --strategy differentiable --targets 4/4 --out {prev}", "target '4/4' is malformed; write W/S/T"),
    ("search --strategy differentiable --targets 1/1/1,4/4 --out {prev}", "target '4/4' is malformed; write W/S/T"),
    ("search --strategy differentiable --targets 0/1/1 --out {prev}", "target w_bits = 0 must be a number >= 1"),
    ("search --strategy differentiable --targets 1/1/0 --out {prev}", "target timesteps = 0 must be a number >= 1"),
    ("search --strategy differentiable --targets nan/1/1 --out {prev}", "target w_bits = nan must be a number >= 1"),
    ("search --strategy differentiable --targets , --out {prev}", "no targets given"),
    ("search --strategy gumbel --targets -1/1/1 --out {prev}", "--targets: expected one argument"),
    ("search --strategy differentiable --optimizer rmsprop --out {prev}", "--optimizer: invalid choice: 'rmsprop'"),
    ("search --strategy differentiable --bits-schedule linear --out {prev}", "--bits-schedule: invalid choice: 'linear'"),
    ("search --strategy differentiable --freeze-share 1.5 --out {prev}", "freeze_share = 1.5 must be at least 0 and below 1"),
    ("search --strategy differentiable --freeze-share -0.1 --out {prev}", "freeze_share = -0.1 must be at least 0 and below 1"),
    ("search --strategy differentiable --freeze-share nan --out {prev}", "freeze_share must be a finite number; got nan"),
    ("search --strategy differentiable --bits-above -1 --out {prev}", "bits_above = -1 must be 0 or more"),
    ("search --strategy differentiable --timesteps-above -1 --out {prev}", "timesteps_above = -1 must be 0 or more"),
    ("search --strategy differentiable --timesteps-above 99999999 --out {prev}", "timesteps_above = 99999999 must be at most 100000"),
    ("search --strategy differentiable --supernet-lr inf --out {prev}", "supernet_lr must be a finite number; got inf"),
    ("search --strategy differentiable --timesteps-lr -1 --out {prev}", "timesteps_lr = -1.0 must be 0 or more"),
    ("search --strategy differentiable --weight-decay -1 --out {prev}", "weight_decay = -1.0 must be 0 or more"),
    ("search --strategy differentiable --weight-decay nan --out {prev}", "weight_decay must be a finite number; got nan"),
    ("search --strategy differentiable --renewal-grid 100000000 --out {prev}", "renewal_grid = 100000000 must be at most 100000"),
    ("search --strategy differentiable --renewal-min-share 2 --out {prev}", "renewal_min_share = 2.0 must be between 0 and 1"),
    ("search --strategy differentiable --renewal-min-share -1 --out {prev}", "renewal_min_share = -1.0 must be between 0 and 1"),
    ("search --strategy differentiable --switch-off -1 --out {prev}", "switch_off = -1.0 must be between 0 and 1"),
    ("search --strategy differentiable --switch-off 5 --out {prev}", "switch_off = 5.0 must be between 0 and 1"),
    ("search --strategy differentiable --bits-hysteresis -0.1 --out {prev}", "bits_hysteresis = -0.1 must be at least 0 and below 0.5"),
    ("search --strategy differentiable --bits-hysteresis nan --out {prev}", "bits_hysteresis must be a finite number; got nan"),
    ("search --strategy differentiable --network-epochs -1 --out {prev}", "network_epochs = -1 must be 0 or more"),
    ("search --strategy differentiable --network-epochs 10000000 --out {prev}", "network_epochs = 10000000 must be at most 100000"),
    ("search --strategy differentiable --network other --out {prev}", "--network: invalid choice: 'other'"),
    ("search --strategy differentiable --recipe fast --out {prev}", "--recipe: invalid choice: 'fast'"),
    ("search --strategy differentiable --recipe paper --optimizer adam --out {prev}", "recipe paper sets optimizer to sgd; drop --optimizer adam"),
    ("search --strategy differentiable --recipe paper --supernet-lr 0.5 --out {prev}", "recipe paper sets supernet_lr to 0.1; drop --supernet-lr 0.5"),
    ("search --strategy differentiable --init-sensitivity random --out {prev}", "--init-sensitivity: invalid choice: 'random'"),
    ("search --strategy differentiable --target-tolerance inf --out {prev}", "target_tolerance must be a finite number; got inf"),
    ("search --strategy boost --threshold nan --out {prev}", "boost option threshold must be a finite number; got nan"),
    ("search --strategy boost --top 0 --out {prev}", "boost option top = 0 must be at least 1"),
    ("search --strategy boost --top 10000000 --out {prev}", "boost option top = 10000000 must be at most 100000"),
    ("search --strategy boost --boost-steps 0 --out {prev}", "boost option boost_steps = 0 must be at least 1"),
    ("search --strategy boost --boost-steps -1 --out {prev}", "boost option boost_steps = -1 must be at least 1"),
    ("search --strategy boost --metric speed --out {prev}", "boost option metric 'speed' is unknown; use one of hessian, output, kurtosis"),
    ("search --strategy boost --infeasible skip --out {prev}", "--infeasible applies to gp, nsga2, qmc, random, tpe; the boost strategy does not take it"),
    ("search --strategy boost --warm-start {w}/config_w0.json --out {prev}", "--warm-start applies to gp, nsga2, qmc, random, tpe"),
    ("search --strategy ilp --metric kurtosis --out {prev}", "ilp option metric 'kurtosis' is unknown; use one of hessian, output"),
    ("search --strategy ilp --levels 0 --out {prev}", "ilp option levels = 0 must be at least 1"),
    ("search --strategy ilp --levels 10000000 --out {prev}", "ilp option levels = 10000000 must be at most 100000"),
    ("search --strategy ilp --max-levels 0 --out {prev}", "ilp option max_levels = 0 must be at least 1"),
    ("search --strategy ilp --max-levels 100000000 --out {prev}", "ilp option max_levels = 100000000 must be at most 100000"),
    ("search --strategy gp --n-startup-trials -1 --out {prev}", "gp option n_startup_trials = -1 must be 0 or more"),
    ("search --strategy tpe --n-startup-trials 100000000 --out {prev}", "tpe option n_startup_trials = 100000000 must be at most 100000"),
    ("search --strategy random --init-count 0 --out {prev}", "random option init_count = 0 must be at least 1"),
    ("search --strategy random --init-count 100000000 --out {prev}", "random option init_count = 100000000 must be at most 100000"),
    ("search --strategy qmc --qmc-type random --out {prev}", "--qmc-type: invalid choice: 'random'"),
    ("search --strategy random --qmc-type sobol --out {prev}", "--qmc-type applies to qmc; the random strategy does not take it"),
    ("search --strategy nsga2 --infeasible ignore --out {prev}", "--infeasible: invalid choice: 'ignore'"),
    ("search --strategy random --study --out {prev}", "--study: expected one argument"),
    ("search --strategy RANDOM --out {prev}", "unknown strategy 'RANDOM'"),
    ("search --strategy random --storage {w}/plain.txt --out {prev}", "storage {w}/plain.txt is not an Optuna journal"),
    ("search --strategy random --storage {w}/out_fifo --out {prev}", "storage {w}/out_fifo is not a regular file (a device, pipe or socket)"),
    ("search --strategy random --storage {w}/link_null --out {prev}", "storage {w}/link_null is not a regular file (a device, pipe or socket)"),
    ("search --strategy random --storage sqlite:///{w}/a_folder --out {prev}", "storage {w}/a_folder is a directory, not an sqlite database file"),
    ("search --strategy random --storage sqlite:///{w}/plain.txt --out {prev}", "storage {w}/plain.txt is not an sqlite database"),
    ("search --strategy random --storage mysql://nobody@127.0.0.1:1/x --out {prev}", "needs the Python database driver 'MySQLdb'"),
    ("search --strategy differentiable --storage {w}/s.journal --out {prev}", "--storage applies to gp, nsga2, qmc, random, tpe"),
    # issue 30: membrane bits and chips
    ("search --membrane-bits 1 --out {prev}", "1 is out of range; give widths from 2 to 32"),
    ("search --membrane-bits 4,x --out {prev}", "'x' is not a whole number"),
    ("search --chip nosuch --out {prev}", "chip profile 'nosuch' is neither a built-in profile"),
    ("search --chip speck --out {prev}", "layer 'conv3' needs 589,824 weight bits; the largest speck core holds"),
    ("search --chip xylo --out {prev}", "layer 'conv1' is a conv layer, which the xylo chip cannot run"),
    ("search --chip {w}/out_fifo --out {prev}", "neither a built-in profile"),
    ("space --chip speck", "layer 'conv3' needs 589,824 weight bits"),
    ("evaluate --chip akida --uniform 8/4/1 --cost-only", "uses W8"),
    ("chips nosuch", "chip profile 'nosuch' is neither a built-in profile"),
    ("chips {w}/plain.txt", "neither a built-in profile"),
    ("strategies annealing random", "unknown strategy 'annealing'"),
    ("strategies RANDOM", "unknown strategy 'RANDOM'"),
    ("strategies --markdown nope", "unknown strategy 'nope'"),
    ("strategies --frobnicate", "unrecognized arguments: --frobnicate"),
    ("strategies random annealing", "unknown strategy 'annealing'; choose one of: boost, differentiable"),
    ("strategies --markdown --frobnicate", "unrecognized arguments: --frobnicate (see spikebits --help)"),
    ("strategies tpe,random", "unknown strategy 'tpe,random'"),
    ("strategies --markdown RANDOM", "unknown strategy 'RANDOM'; choose one of"),
    # ---- bad values: W/S/T
    ("evaluate --uniform 0/4/1", "--uniform '0/4/1': w_bits=0 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/0/1", "--uniform '4/0/1': s_bits=0 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/4/0", "--uniform '4/4/0': timesteps=0 is out of range; use 1 or more"),
    ("evaluate --uniform 4/4/-1", "--uniform '4/4/-1': timesteps=-1 is out of range"),
    ("evaluate --uniform 65/4/1", "--uniform '65/4/1': w_bits=65 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/17/1", "--uniform '4/17/1': s_bits=17 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/4/1/1", "--uniform '4/4/1/1': u_bits=1 is out of range; use 2 to 32"),
    ("evaluate --uniform 4/4/1/8/1", "--uniform '4/4/1/8/1': write W/S/T or W/S/T/U"),
    ("evaluate --uniform a/b/c", "--uniform 'a/b/c': write W/S/T"),
    ("evaluate --uniform //", "--uniform '//': write W/S/T"),
    ("evaluate --uniform 4p/4p/1", "--uniform '4p/4p/1': write W/S/T"),
    ("evaluate --uniform p/4/1", "--uniform 'p/4/1': write W/S/T"),
    ("evaluate --uniform 1e3/4/1", "--uniform '1e3/4/1': write W/S/T"),
    ("evaluate --uniform 4.5/4/1", "--uniform '4.5/4/1': write W/S/T"),
    ("evaluate --uniform 4/4/1 --config {w}/config_w0.json", "--config: not allowed with argument --uniform"),
    ("evaluate --uniform 4/4/1 --checkpoint {w}/random.ckpt", "--checkpoint: not allowed with argument --uniform"),
    ("evaluate", "one of the arguments --config --uniform --checkpoint is required"),
    # ---- energy model files
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_nan.toml", "energy_nan.toml: synop_pj = nan must be a finite number >= 0"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_inf.toml", "energy_inf.toml: synop_pj = inf must be a finite number >= 0"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_negative.toml", "energy_negative.toml: spike_pj = -1.0 must be a finite number >= 0"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_huge.toml", "energy_huge.toml: neuron_pj = 1e+31 is too large"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_unknown.toml", "energy_unknown.toml: unknown key 'flux_pj'"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_missing.toml", "energy_missing.toml is missing 'neuron_adds'"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_datapath.toml", "energy_datapath.toml: datapath 'quantum' is unknown"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_membrane.toml", "energy_membrane.toml: membrane_bits = 0 must be a whole number >= 1"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_fraction.toml", "energy_fraction.toml: membrane_bits = 2.5 must be a whole number"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_tiers.toml", "sram_bytes has 3 tiers but sram_pj_per_64bit 2"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_syntax.toml", "energy_syntax.toml is not valid TOML"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_bool.toml", "energy_bool.toml: synop_pj = True must be a finite number >= 0"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_latin1.toml", "energy_latin1.toml is not UTF-8 text"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_list.json", "energy_list.json must hold a table of constants"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_fifo.toml", "energy model file {w}/energy_fifo.toml is a pipe, not a file"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_dir.toml", "energy model file {w}/energy_dir.toml is a folder, not a file"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {w}/energy_nan.json", "energy model file {w}/energy_nan.json holds a non-finite number (NaN)"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model loihi2", "energy model 'loihi2' is neither a preset"),
    ("evaluate --uniform 4/4/1 --cost-only --energy-model {dev}", "is neither a preset (horowitz45nm, bitserial45nm, loihi) nor a .toml/.json file"),
    # ---- space files
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_w0.json", "layer 'conv2': w_bits=0 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_w99.json", "layer 'conv2': w_bits=99 is out of range; use 1 to 16"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_s_negative.json", "layer 'conv2': s_bits=-1 is out of range"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_t0.json", "layer 'conv2': timesteps=0 is out of range; use 1 or more"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_empty_list.json", "layer 'conv2': option list w_bits is empty"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_no_schemes.json", "layer 'conv2': option list schemes is empty"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_text.json", "layer 'conv2': w_bits must be a list"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_bool.json", "layer 'conv2': w_bits must be an integer, got True"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_fraction.json", "layer 'conv2': w_bits must be an integer, got 2.5"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_scheme.json", "layer 'conv2': scheme 'log' in schemes is unknown"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_schema.json", "space schema 'spikebits.space/9' is not supported"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_pinned.json", "pinned layer 'conv99' is not a layer of the space"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_pinned_bad.json", "pinned layer 'conv1': w_bits=99 is out of range"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_ties_unknown.json", "tied layer 'conv99' is not a layer of the space"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_ties_text.json", '"ties" must be a list of lists of layer names'),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_extra_layer.json", "the space's layers do not match model 'digits_cnn'"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_layer_list.json", "layer 'conv2': expected an object with w_bits, s_bits, timesteps, schemes"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_deep.json", "space file is nested too deeply to read"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_bigint.json", "space file holds an integer too long to read"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_nan.json", "space file holds a non-finite number (NaN)"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_list.json", 'a space file is an object with a "layers" mapping'),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_fifo.json", "space file {w}/space_fifo.json is a pipe, not a file"),
    ("evaluate --uniform 4/4/1 --cost-only --space {w}/space_zero.json", "space file {w}/space_zero.json is a device, not a file"),
    ("evaluate --uniform 3/4/1 --space {w}/space_w0.json", "layer 'conv2': w_bits=0 is out of range"),
    # ---- config files
    ("evaluate --config {w}/config_w0.json --cost-only", "layer 'conv2': w_bits=0 is out of range"),
    ("evaluate --config {w}/config_w99.json --cost-only", "layer 'conv2': w_bits=99 is out of range"),
    ("evaluate --config {w}/config_s_negative.json --cost-only", "layer 'conv2': s_bits=-1 is out of range"),
    ("evaluate --config {w}/config_t0.json --cost-only", "layer 'conv2': timesteps=0 is out of range"),
    ("evaluate --config {w}/config_scheme.json --cost-only", "layer 'conv2': scheme='log' is unknown"),
    ("evaluate --config {w}/config_unknown_layer.json --cost-only", "config names unknown layer 'conv99'"),
    ("evaluate --config {w}/config_missing_key.json --cost-only", "layer 'conv2': missing s_bits, timesteps"),
    ("evaluate --config {w}/config_text.json --cost-only", "layer 'conv2': w_bits must be an integer, got '2'"),
    ("evaluate --config {w}/config_fraction.json --cost-only", "layer 'conv2': w_bits must be an integer, got 2.5"),
    ("evaluate --config {w}/config_bool.json --cost-only", "layer 'conv2': w_bits must be an integer, got True"),
    ("evaluate --config {w}/config_pinned.json --cost-only", "layer 'conv1' is pinned at W8S8T1 but the config gives W2S2T1"),
    ("evaluate --config {w}/config_nan.json --cost-only", "config holds a non-finite number (NaN)"),
    ("evaluate --config {w}/config_bigint.json --cost-only", "config holds an integer too long to read"),
    ("evaluate --config {w}/config_deep.json --cost-only", "config is nested too deeply to read"),
    ("evaluate --config {w}/config_empty.json --cost-only", "config is not valid JSON"),
    ("evaluate --config {w}/config_layers_list.json --cost-only", 'a config is an object {{"layers"'),
    ("evaluate --config {w}/config_latin1.json --cost-only", "config file {w}/config_latin1.json is not UTF-8 text"),
    ("evaluate --config {w}/config_fifo.json --cost-only", "config file {w}/config_fifo.json is a pipe, not a file"),
    ("evaluate --config {w}/config_zero.json --cost-only", "config file {w}/config_zero.json is a device, not a file"),
    ("evaluate --config {dev} --cost-only", "config file {dev} is a device, not a file"),
    # ---- checkpoints (evaluate --checkpoint, export)
    ("evaluate --checkpoint {w}/state_list.ckpt", "checkpoint {w}/state_list.ckpt is not a model state_dict (found list)"),
    ("evaluate --checkpoint {w}/state_empty.ckpt", "checkpoint {w}/state_empty.ckpt is not a model state_dict (found dict with no entries)"),
    ("evaluate --checkpoint {w}/state_value.ckpt", "(entry 'conv2.weight' is a int, not a tensor)"),
    ("evaluate --checkpoint {w}/state_key.ckpt", "(key 7 is not a string)"),
    ("evaluate --checkpoint {w}/state_shape.ckpt", "checkpoint {w}/state_shape.ckpt does not fit digits_cnn with this config"),
    ("evaluate --checkpoint {w}/state_shape.ckpt --model resnet20", "config names unknown layer 'conv2'"),
    ("evaluate --checkpoint {w}/config_dict.ckpt", "holds a config of type dict, not config JSON text"),
    ("evaluate --checkpoint {w}/config_malformed.ckpt", "checkpoint {w}/config_malformed.ckpt holds a malformed config"),
    ("evaluate --checkpoint {w}/config_w99.ckpt", "holds a malformed config (layer 'conv2': w_bits=99 is out of range"),
    ("evaluate --checkpoint {w}/config_unknown.ckpt", "config names unknown layer 'conv99'"),
    ("evaluate --checkpoint {w}/no_config.ckpt", "holds a config of type NoneType, not config JSON text"),
    ("evaluate --checkpoint {w}/other_schema.ckpt", "has schema 'spikebits.checkpoint/9', not 'spikebits.checkpoint/1'"),
    ("evaluate --checkpoint {w}/plain_state.ckpt", "checkpoint {w}/plain_state.ckpt holds no config"),
    ("evaluate --checkpoint {w}/tensor.ckpt", "checkpoint {w}/tensor.ckpt is not a model state_dict (found Tensor)"),
    ("evaluate --checkpoint {w}/cut.ckpt", "cannot read checkpoint {w}/cut.ckpt (a damaged or truncated torch file"),
    ("evaluate --checkpoint {w}/fifo.ckpt", "checkpoint file {w}/fifo.ckpt is a pipe, not a file"),
    ("evaluate --checkpoint {w}/zero.ckpt", "checkpoint file {w}/zero.ckpt is a device, not a file"),
    ("evaluate --checkpoint {w}/dir.ckpt", "checkpoint file {w}/dir.ckpt is a folder, not a file"),
    ("evaluate --checkpoint {dev}", "checkpoint file {dev} is a device, not a file"),
    ("evaluate --checkpoint {w}/raw.pkl", "not a weights-only torch file"),
    ("evaluate --checkpoint {w}/zip.ckpt", "cannot read checkpoint {w}/zip.ckpt"),
    ("evaluate --checkpoint {w}/empty.ckpt", "cannot read checkpoint {w}/empty.ckpt (the file is empty)"),
    ("export --checkpoint {w}/state_list.ckpt --out {w}/m.sbq", "checkpoint {w}/state_list.ckpt is not a model state_dict (found list)"),
    ("export --checkpoint {w}/state_empty.ckpt --out {w}/m.sbq", "not a model state_dict (found dict with no entries)"),
    ("export --checkpoint {w}/state_value.ckpt --out {w}/m.sbq", "(entry 'conv2.weight' is a int, not a tensor)"),
    ("export --checkpoint {w}/state_key.ckpt --out {w}/m.sbq", "(key 7 is not a string)"),
    ("export --checkpoint {w}/state_shape.ckpt --out {w}/m.sbq", "checkpoint {w}/state_shape.ckpt does not fit digits_cnn with this config"),
    ("export --checkpoint {w}/state_shape.ckpt --format nir --out {w}/m.nir", "does not fit digits_cnn with this config"),
    ("export --checkpoint {w}/config_dict.ckpt --out {w}/m.sbq", "holds a config of type dict, not config JSON text"),
    ("export --checkpoint {w}/config_malformed.ckpt --out {w}/m.sbq", "holds a malformed config"),
    ("export --checkpoint {w}/config_w99.ckpt --out {w}/m.sbq", "holds a malformed config (layer 'conv2': w_bits=99 is out of range"),
    ("export --checkpoint {w}/config_unknown.ckpt --out {w}/m.sbq", "config names unknown layer 'conv99'"),
    ("export --checkpoint {w}/no_config.ckpt --out {w}/m.sbq", "holds a config of type NoneType"),
    ("export --checkpoint {w}/other_schema.ckpt --out {w}/m.sbq", "has schema 'spikebits.checkpoint/9'"),
    ("export --checkpoint {w}/plain_state.ckpt --out {w}/m.sbq", "checkpoint {w}/plain_state.ckpt holds no config; give the one it was fine-tuned with"),
    ("export --checkpoint {w}/plain_state.ckpt --config {w}/config_good.json --out {w}/m.sbq", "checkpoint {w}/plain_state.ckpt does not fit digits_cnn"),
    ("export --checkpoint {w}/plain_state.ckpt --config {w}/config_w0.json --out {w}/m.sbq", "layer 'conv2': w_bits=0 is out of range"),
    ("export --checkpoint {w}/plain_state.ckpt --config {w}/missing.json --out {w}/m.sbq", "config file {w}/missing.json does not exist"),
    ("export --checkpoint {w}/plain_state.ckpt --config {w}/config_fifo.json --out {w}/m.sbq", "config file {w}/config_fifo.json is a pipe"),
    ("export --checkpoint {w}/state_shape.ckpt --config {w}/config_pow2_w1.json --out {w}/m.sbq",
     "--config differs from the config checkpoint {w}/state_shape.ckpt was fine-tuned with"),
    ("export --checkpoint {w}/state_shape.ckpt --space {w}/space_w0.json --out {w}/m.sbq", "layer 'conv2': w_bits=0 is out of range"),
    ("export --checkpoint {w}/state_shape.ckpt --space {w}/space_fifo.json --out {w}/m.sbq", "space file {w}/space_fifo.json is a pipe"),
    ("export --checkpoint {w}/state_shape.ckpt --format onnx --out {w}/m.sbq", "--format: invalid choice: 'onnx'"),
    ("export --checkpoint {w}/state_shape.ckpt --nir-lowering magic --out {w}/m.nir", "--nir-lowering: invalid choice: 'magic'"),
    ("export --checkpoint {w}/fifo.ckpt --out {w}/m.sbq", "checkpoint file {w}/fifo.ckpt is a pipe, not a file"),
    ("export --checkpoint {w}/zero.ckpt --out {w}/m.sbq", "checkpoint file {w}/zero.ckpt is a device, not a file"),
    ("export --checkpoint {w}/dir.ckpt --out {w}/m.sbq", "checkpoint file {w}/dir.ckpt is a folder, not a file"),
    ("export --checkpoint {dev} --out {w}/m.sbq", "checkpoint file {dev} is a device, not a file"),
    ("export --checkpoint {w}/cut.ckpt --out {w}/m.sbq", "cannot read checkpoint {w}/cut.ckpt"),
    ("export --checkpoint {w}/tensor.ckpt --out {w}/m.sbq", "checkpoint {w}/tensor.ckpt is not a model state_dict (found Tensor)"),
    ("export --checkpoint {w}/state_shape.ckpt --model nope --out {w}/m.sbq", "unknown model 'nope'"),
    ("export --checkpoint {w}/state_shape.ckpt --dataset imagenet --out {w}/m.sbq", "unknown data set 'imagenet'"),
    ("export --checkpoint {w}/state_shape.ckpt --input-shape 0,1,1 --out {w}/m.sbq", "'0,1,1' is not C,H,W with three positive sizes"),
    ("export --checkpoint {w}/state_shape.ckpt", "the following arguments are required: --out"),
    ("export --out {w}/m.sbq", "the following arguments are required: --checkpoint"),
    # ---- found while the table grew (issue 29)
    ("compare --evaluations 1 --strategies random --out {prev}", "holds a search's results (run.json, pareto.json, trials.csv), not a comparison's"),
    ("compare --evaluations 1 --strategies random --seed 3 --out {w}/cmp_new", "a comparison runs seeds 0 … K−1 (--seeds K), not one --seed"),
    ("search --strategy nsga2 --ray --ray-storage {dev} --out {prev}", "is a device, not a folder; choose a folder"),
    ("search --strategy nsga2 --ray --ray-storage {w}/plain.txt --out {prev}", "--ray-storage {w}/plain.txt is a file, not a folder"),
    ("search --strategy nsga2 --storage sqlite:///{w}/newdir/ --out {prev}", "ends in '/': it names a folder, not an sqlite database file"),
    ("search --strategy nsga2 --storage {w}/newdir/ --out {prev}", "ends in '/': it names a folder, not a journal file"),
    ("space --model spikformer --model-arg embed_dim=wide", "embed_dim must be a whole number (or a list of them), got 'wide'"),
    ("space --model resnet20 --model-arg widths=[16,null,64]", "widths must be whole numbers, got [16, None, 64]"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """The prepared inputs; ``cache_dir`` (conftest) points $SPIKEBITS_CACHE at the session's own
    cache, so that no case meets pretrained networks or results cached elsewhere on the machine."""
    w = tmp_path_factory.mktemp("bad-inputs")
    _write_inputs(w)
    return w


@pytest.fixture(scope="module")
def device(world: Path) -> Path:
    return _null_device(world)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every entry under ``folder`` (hidden ones included, links not followed) → its bytes; a
    folder, a named pipe or a device → its kind, never opened (a pipe would block the read)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            out[name] = b"-> " + str(path.readlink()).encode()
        elif stat.S_ISREG(mode):
            out[name] = path.read_bytes()
        elif stat.S_ISDIR(mode):
            out[name + "/"] = b""
        elif stat.S_ISFIFO(mode):
            out[name] = b"<fifo>"
        else:
            out[name] = b"<%o>" % stat.S_IFMT(mode)
    return out


def restore(folder: Path, before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Put the world back as :func:`snapshot` saw it ``before`` a case: remove what the case
    added, write back the regular files it changed (pipes, links and devices it never opens)."""
    for name in sorted(set(after) - set(before), key=lambda n: n.count("/"), reverse=True):
        path = folder / name.rstrip("/")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for name, data in before.items():
        path = folder / name
        if after.get(name) != data and not name.endswith("/") and (path.is_file() and not path.is_symlink() or not path.exists()):
            path.write_bytes(data)


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 300
    assert len({argv for argv, _ in CASES}) == len(CASES)
    commands = {argv.split()[0] for argv, _ in CASES}
    assert {"search", "evaluate", "sensitivity", "space", "export", "compare", "report", "strategies"} <= commands


@pytest.mark.parametrize("argv, words", CASES, ids=[argv for argv, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_damages_nothing(capsys, world, device, argv, words):
    before = snapshot(world)
    assert stat.S_ISCHR(device.stat().st_mode)
    fill = {"w": str(world), "prev": str(world / "prev"), "dev": str(device)}
    try:
        code = main([part.format(**fill) for part in argv.split()])
    finally:
        after = snapshot(world)
        restore(world, before, after)  # what a failing case leaves behind cannot hide the next one's damage
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert words.format(**fill) in err
    assert "Traceback" not in err and out == ""
    assert after == before
    assert stat.S_ISCHR(device.stat().st_mode)


def test_debug_shows_the_traceback(capsys, world):
    code = main(["--debug", "search", "--space", str(world / "typo_space.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("schema, model, chip, layers, ties, pinned")
