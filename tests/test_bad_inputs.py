"""Every bad input, on every subcommand: exit code 2, one line on stderr with the expected
words, no traceback, nothing on stdout, and the files of an earlier run untouched.

Each case is ``(argv, words)``. In ``argv``, ``{w}`` stands for the folder of prepared inputs,
``{prev}`` for the output folder of an earlier run, whose every file (and the set of files)
must be byte-identical after the case, and ``{dev}`` for a character device: a null device
made inside the test folder when the tests run as root (a regression must not replace the
machine's ``/dev/null``, as the old code did for root), else ``/dev/null`` itself, which a
user who is not root cannot replace. No case trains anything: each is refused
before any work starts.
"""

from __future__ import annotations

import io
import os
import pickle
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
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("bad-inputs")
    _write_inputs(w)
    return w


@pytest.fixture(scope="module")
def device(world: Path) -> Path:
    return _null_device(world)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included, links not followed) → its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            out[str(path.relative_to(folder))] = path.read_bytes()
        else:
            out[str(path.relative_to(folder)) + "/"] = b""
    return out


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 60
    assert len({argv for argv, _ in CASES}) == len(CASES)
    commands = {argv.split()[0] for argv, _ in CASES}
    assert {"search", "evaluate", "sensitivity", "space", "export", "compare", "report", "strategies"} <= commands


@pytest.mark.parametrize("argv, words", CASES, ids=[argv for argv, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_damages_nothing(capsys, world, device, argv, words):
    before = snapshot(world)
    assert stat.S_ISCHR(device.stat().st_mode)
    fill = {"w": str(world), "prev": str(world / "prev"), "dev": str(device)}
    code = main([part.format(**fill) for part in argv.split()])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert words.format(**fill) in err
    assert "Traceback" not in err and out == ""
    assert snapshot(world) == before
    assert stat.S_ISCHR(device.stat().st_mode)


def test_debug_shows_the_traceback(capsys, world):
    code = main(["--debug", "search", "--space", str(world / "typo_space.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("schema, model, layers, ties, pinned")
