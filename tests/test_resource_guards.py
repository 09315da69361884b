"""Resource guards (issue 29, part 3): sizes, time steps and counts a user gives are bounded
before anything is allocated, and a network whose memory estimate is above the limit is
refused in one line. Every refusal here is exit code 2 with one stderr line, and fast: nothing
is trained, no data is read, no weight is allocated (the timeout marker catches a regression
that builds or allocates)."""

from __future__ import annotations

import argparse
import json

import pytest

from spikebits import models
from spikebits.evaluators import Evaluator, datasets, resources
from spikebits.search.cli import main
from spikebits.search.cli.common import bounded_int, worker_count
from spikebits.space import ConfigError, LayerChoice
from spikebits.space.config import MAX_TIMESTEPS

GUARDED = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def limit_64_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same limit on every machine: 64 GiB."""
    monkeypatch.setenv(resources.MEMORY_ENV, "64")


def refused(capsys: pytest.CaptureFixture, argv: str) -> str:
    code = main(argv.split())
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and out == "", err
    return err


# ---------------------------------------------------------------------------- the CLI
CIFAR_RESNET = "evaluate --model resnet20 --dataset cifar10 --uniform 4/4/1 --model-arg"

CASES = [
    # sizes above the bounds of models.limits: refused before the structure is built
    (f"{CIFAR_RESNET} widths=[100000,100000,100000]", ["widths=[100000, 100000, 100000]", "above 65536"]),
    (f"{CIFAR_RESNET} blocks=400", ["1200 blocks, more than 1000"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg embed_dim=1000000", ["embed_dim", "above 65536"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg depth=1000000000", ["depth", "above 1000"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg mlp_ratio=1e9", ["mlp_ratio", "above 2048"]),
    # allowed sizes whose memory estimate is above the limit
    (f"{CIFAR_RESNET} widths=[16384,16384,16384]",
     ["resnet20 with widths=[16384, 16384, 16384] on cifar10 at T=1, batch 64 needs about", "to train, above the 64 GiB limit",
      "(SPIKEBITS_MAX_MEMORY_GB); use a smaller model (--model-arg), fewer time steps or a smaller batch"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg embed_dim=16384 --model-arg heads=8",
     ["spikformer with embed_dim=16384, heads=8 on cifar10", "above the 64 GiB limit"]),
    ("space --model resnet20 --dataset cifar10 --model-arg widths=[16384,16384,16384]", ["for its weights alone", "smaller model"]),
    ("search --model resnet20 --dataset cifar10 --model-arg widths=[16384,16384,16384]", ["at T=4", "above the 64 GiB limit"]),
    ("sensitivity --model resnet20 --dataset cifar10 --model-arg widths=[16384,16384,16384]", ["at T=1", "above the 64 GiB limit"]),
    # zero and negative sizes: one line naming the argument
    (f"{CIFAR_RESNET} widths=[0,16,16]", ["--model-arg: resnet20: widths must be >= 1"]),
    (f"{CIFAR_RESNET} blocks=-1", ["--model-arg: resnet20: blocks must be >= 1"]),
    (f"{CIFAR_RESNET} widths=[]", ["--model-arg: resnet20: widths is empty"]),
    (f"{CIFAR_RESNET} widths=[8,16]", ["resnet20 has three stages"]),
    ("evaluate --model resnet19 --dataset cifar10 --uniform 4/4/1 --model-arg head_width=-5", ["head_width must be >= 1"]),
    ("evaluate --model resnet19 --dataset cifar10 --uniform 4/4/1 --model-arg blocks=[3,0,2]", ["blocks must be >= 1"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg heads=0", ["heads must be >= 1"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg embed_dim=-8", ["embed_dim must be >= 1"]),
    ("evaluate --model spikformer --dataset cifar10 --uniform 4/4/1 --model-arg mlp_ratio=0", ["mlp_ratio must be a number above 0"]),
    ("evaluate --model digits_cnn --uniform 4/4/1 --model-arg width=0", ["width must be a number above 0"]),
    ("evaluate --model vgg_dvs --dataset cifar10_dvs --uniform 4/4/1 --model-arg hidden=0", ["hidden must be >= 1"]),
    ("evaluate --model sew_resnet18 --dataset cifar10 --uniform 4/4/1 --model-arg widths=[8,8,8,2.5]", ["widths must be whole numbers"]),
    # time steps: bounded where a network runs, not in cost figures
    ("evaluate --uniform 4/4/99999999", [f"timesteps=99999999 (layer conv2) is above {MAX_TIMESTEPS}", "--cost-only"]),
    # counts
    ("evaluate --uniform 4/4/1 --workers 100000", ["--workers: 100000 must be at most 256"]),
    ("search --workers 100000", ["--workers: 100000 must be at most 256"]),
    ("evaluate --uniform 4/4/1 --threads 100000", ["--threads: 100000 must be at most 1024"]),
    ("evaluate --uniform 4/4/1 --epochs 10000000", ["--epochs: 10000000 must be at most 100000"]),
    ("evaluate --uniform 4/4/1 --pretrain-epochs 10000000", ["--pretrain-epochs: 10000000 must be at most 100000 (or auto)"]),
    ("evaluate --uniform 4/4/1 --simulate-samples 100000000", ["--simulate-samples: 100000000 must be at most 1000000"]),
    ("evaluate --uniform 4/4/1 --lanes 100000000", ["--lanes: 100000000 must be at most 65536"]),
    ("sensitivity --probes 100000000", ["--probes: 100000000 must be at most 100000"]),
    ("sensitivity --batches 100000000", ["--batches: 100000000 must be at most 100000"]),
    ("search --scoring one-shot --one-shot-epochs 100000000", ["--one-shot-epochs: 100000000 must be at most 100000"]),
    ("search --scoring one-shot --bn-batches 100000000", ["--bn-batches: 100000000 must be at most 100000"]),
]


@GUARDED
@pytest.mark.parametrize("argv, words", CASES, ids=[argv for argv, _ in CASES])
def test_refused_in_one_line_before_any_work(capsys, tmp_path, argv, words):
    err = refused(capsys, f"{argv} --cache-dir {tmp_path}/cache" if argv.split()[0] != "space" else argv)
    for word in words:
        assert word in err
    assert not (tmp_path / "cache").exists()  # nothing pretrained, nothing cached


@GUARDED
def test_cost_only_takes_any_time_steps_and_any_allowed_size(capsys):
    assert main(["evaluate", "--uniform", "4/4/99999999", "--cost-only"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    # digits_cnn: MACs conv2 1179648, conv3 1179648, fc 1280 at W4 S4 (×T), conv1 73728 at W8 S8 T1
    assert metrics["s_ace"] == 73728 * 64 + (1179648 + 1179648 + 1280) * 16 * 99999999
    assert main(["evaluate", "--model", "resnet20", "--dataset", "cifar10", "--uniform", "4/4/1", "--cost-only",
                 "--model-arg", "widths=[16384,16384,16384]"]) == 0
    assert json.loads(capsys.readouterr().out)["s_ace"] > 0


# ---------------------------------------------------------------------------- the Python API
@GUARDED
def test_the_python_api_is_guarded_too(tmp_path):
    with pytest.raises(ConfigError, match="widths must be >= 1"):
        models.build("resnet20", widths=(0, 16, 16))
    with pytest.raises(ConfigError, match="depth=1000000000: 1000000000 is above 1000"):
        models.build("spikformer", depth=10**9)
    evaluator = Evaluator("resnet20", "cifar10", model_kwargs={"widths": (16384,) * 3}, cache_dir=tmp_path)  # structure only
    config = evaluator.space.uniform(LayerChoice(4, 4, 1))
    with pytest.raises(ConfigError, match="needs about .* above the 64 GiB limit"):
        evaluator(config)  # refused before the data is read (cifar10 is not here) or the network built
    with pytest.raises(ConfigError, match="needs about"):
        evaluator.prepare()
    small = Evaluator("digits_cnn", "digits", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=f"above {MAX_TIMESTEPS}"):
        small(small.space.uniform(LayerChoice(4, 4, MAX_TIMESTEPS + 1)))
    with pytest.raises(ConfigError, match="--workers must be a whole number from 0 to 256"):
        Evaluator("digits_cnn", "digits", workers=100_000)
    with pytest.raises(ConfigError, match="--epochs 10000000 is more than 100000"):
        Evaluator("digits_cnn", "digits", epochs=10_000_000)
    assert not list(tmp_path.iterdir())


def test_a_bad_limit_variable_is_one_line(monkeypatch):
    small = Evaluator("digits_cnn", "digits")
    for text in ("lots", "-1", "0", "nan", "inf"):
        monkeypatch.setenv(resources.MEMORY_ENV, text)
        with pytest.raises(ConfigError, match="SPIKEBITS_MAX_MEMORY_GB=.* is not a positive number of GiB"):
            small.check_memory()
    monkeypatch.setenv(resources.MEMORY_ENV, "0.001")  # 1 MiB: even digits_cnn is refused
    with pytest.raises(ConfigError, match=r"above the 1.02 MiB limit \(SPIKEBITS_MAX_MEMORY_GB\)"):
        small.check_memory()


def test_a_cuda_device_is_limited_by_its_gpus_memory(monkeypatch):
    import torch

    monkeypatch.delenv(resources.MEMORY_ENV)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: argparse.Namespace(total_memory=80 * 2**30 + index))
    assert resources.memory_limit("cuda") == (80 * 2**30, "SPIKEBITS_MAX_MEMORY_GB; default: the GPU's memory")
    assert resources.memory_limit("cuda:1")[0] == 80 * 2**30 + 1
    monkeypatch.setenv(resources.MEMORY_ENV, "8")
    assert resources.memory_limit("cuda") == (8 * 2**30, "SPIKEBITS_MAX_MEMORY_GB")


def test_the_default_limit_is_this_machines_memory(monkeypatch):
    import os

    monkeypatch.delenv(resources.MEMORY_ENV)
    limit, source = resources.memory_limit("cpu")
    assert limit == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert source == "SPIKEBITS_MAX_MEMORY_GB; default: this machine's memory"


# ---------------------------------------------------------------------------- the estimate
def test_the_estimate_of_digits_cnn_by_hand():
    structure = datasets.build_structure("digits_cnn", {})
    # Parameters: weights 1·32·9 + 32·64·9 + 64·128·9 + 128·10 and fc's 10 biases; per layer a
    # spike step γ and a weight step α (4 × 2); BatchNorm weight and bias (2 × (32 + 64 + 128)).
    # Buffers: BatchNorm running mean and variance (2 × 224) and 3 batch counters; per layer
    # two "initialized" flags (4 × 2).
    params = 288 + 18432 + 73728 + 1280 + 10 + 8 + 448
    buffers = 448 + 3 + 8
    assert resources.parameter_count(structure) == params + buffers == 94653
    specs = models.layer_specs(structure)
    # e_l = T·N_a + N_o: conv1 (pinned, T 1) 256 + 8192; conv2 4·8192 + 4096 (16×16 → 8×8, 64
    # channels); conv3 4·4096 + 2048; fc 4·128 + 10.
    elements = [1 * 256 + 8192, 4 * 8192 + 4096, 4 * 4096 + 2048, 4 * 128 + 10]
    steps = {"conv1": 1, "conv2": 4, "conv3": 4, "fc": 4}
    train = resources.estimate_memory(specs, 94653, steps, batch_size=64, training=True)
    assert train.parameter_bytes == 94653 * 4 * 4  # weights, gradients, Adam's two moments
    assert train.activation_bytes == sum(elements) * 3 * 64 * 4 == 49_356_288
    assert (train.timesteps, train.batch_size, train.total_bytes) == (4, 64, 94653 * 16 + 49_356_288)
    evaluate = resources.estimate_memory(specs, 94653, steps, batch_size=512, training=False)
    assert evaluate.parameter_bytes == 94653 * 4
    assert evaluate.activation_bytes == max(elements) * 3 * 512 * 4  # one layer at a time
    # the evaluator computes the same from its space's largest config (T = 4, conv1 pinned at 1)
    evaluator = Evaluator("digits_cnn", "digits")
    assert evaluator.parameter_count == 94653
    assert evaluator.layer_timesteps() == steps
    assert evaluator.memory_estimate(steps) == train


def test_an_attention_map_enters_the_estimate():
    specs = models.layer_specs(datasets.build_structure("spikformer", {"embed_dim": 64, "heads": 4, "depth": 1}), (3, 32, 32))
    q = next(s for s in specs if s.name == "blocks.0.attn.q")
    # 64 tokens of 64 features; Q, K, V fired at q's T (192 output neurons); 4 heads × 64² map entries
    assert (q.n_inputs, q.output_neurons, q.n_outputs) == (4096, 4096, 4096)
    assert resources.activation_elements(q, 2) == 2 * (4096 + 4096 + 4 * 64 * 64) + 4096


@pytest.mark.parametrize("model, dataset", [("digits_cnn", "digits"), ("mnist_cnn", "mnist"), ("resnet20", "cifar10")])
def test_the_default_runs_are_far_below_the_limit(monkeypatch, model, dataset):
    monkeypatch.delenv(resources.MEMORY_ENV)
    evaluator = Evaluator(model, dataset)
    evaluator.check_memory()
    worst = max(evaluator.memory_estimate(evaluator.layer_timesteps(), training=t).total_bytes for t in (True, False))
    limit, _ = resources.memory_limit("cpu")
    if model != "resnet20":
        assert worst < 256 * 2**20 and worst < limit / 16
    else:  # the seed paper's wide ResNet-20 at T = 4 and batch 64: a few GiB
        assert worst < 16 * 2**30


def test_format_bytes():
    assert [resources.format_bytes(n) for n in (0, 512, 1536, 64 * 2**30, 9.1 * 2**40, 2**70)] == [
        "0 B", "512 B", "1.5 KiB", "64 GiB", "9.1 TiB", "1024 EiB"
    ]


def test_bounded_counts_name_the_bound_broken():
    assert worker_count("256") == 256
    with pytest.raises(argparse.ArgumentTypeError, match="^-1 must be 0 or more$"):
        worker_count("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="^257 must be at most 256$"):
        worker_count("257")
    seeds = bounded_int(1, 1000)
    assert seeds("1000") == 1000
    with pytest.raises(argparse.ArgumentTypeError, match="^0 must be at least 1$"):
        seeds("0")
    with pytest.raises(argparse.ArgumentTypeError, match="^100000000 must be at most 1000$"):
        seeds("100000000")
