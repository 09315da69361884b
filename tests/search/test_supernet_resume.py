"""Work that survives at real size (issue 26): a supernet run of the differentiable and gumbel
strategies saves a partial checkpoint after each epoch (in the evaluator's cache folder, named
for its settings) and a run stopped after an epoch resumes from it and ends bit for bit as an
uninterrupted one; a damaged checkpoint, or one of other settings, is not used."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from spikebits.evaluators import Evaluator
from spikebits.search.differentiable import (
    DifferentiableOptions,
    GumbelOptions,
    initial_config,
    supernet_checkpoint,
    train_supernet,
)
from spikebits.space import BitTargets, TrainingStopped

EPOCHS = 3
TARGET = BitTargets(2.0, 2.0, 1.0)
OTHER = BitTargets(3.0, 2.0, 1.0)
#: name: (options, gumbel). Adam with renewal of both kinds and a fast B̂ (bits move in every
#: epoch); SGD (momentum buffers) with the bits on the cosine; Gumbel (noise, temperature, θ).
CASES = {
    "adam": (DifferentiableOptions(supernet_epochs=EPOCHS, renewal="both", bits_lr=0.2), False),
    "sgd-cosine": (DifferentiableOptions(supernet_epochs=EPOCHS, optimizer="sgd", bits_schedule="cosine"), False),
    "gumbel": (GumbelOptions(supernet_epochs=EPOCHS, bits_lr=0.2), True),
}
PARTIALS = "*-supernet-*.partial.pt"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _evaluator(cache: Path) -> Evaluator:
    return Evaluator("digits_cnn", "digits", seed=0, pretrain_epochs=1, epochs=1, model_kwargs={"width": 0.25}, train_fraction=0.25,
                     cache_dir=cache)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the shrunken digits_cnn's pretraining (one epoch)."""
    cache = tmp_path_factory.mktemp("supernet-resume")
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        _evaluator(cache).pretrained()
    return cache


@pytest.fixture
def cache(pretrained: Path, tmp_path: Path) -> Path:
    """This test's own cache folder, with the pretraining already in it."""
    for path in pretrained.glob("*.pt"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _run(ev: Evaluator, name: str, target: BitTargets = TARGET) -> tuple[dict, dict[str, torch.Tensor]]:
    """One supernet run: (what it reports but the wall time, the network's final state)."""
    options, gumbel = CASES[name]
    models = []
    build = ev.full_precision_model

    def keep() -> torch.nn.Module:
        models.append(build())
        return models[-1]

    ev.full_precision_model = keep  # type: ignore[method-assign]
    run = train_supernet(ev, target, options, seed=0, gumbel=gumbel)
    report = run.to_dict()
    del report["wall_time_s"]
    return report, {k: v.detach().clone() for k, v in models[-1].state_dict().items()}


_REFERENCES: dict[tuple[str, BitTargets], tuple[dict, dict]] = {}


def _reference(pretrained: Path, name: str, target: BitTargets = TARGET) -> tuple[dict, dict]:
    """The uninterrupted run (computed once per module, in a folder of its own)."""
    if (name, target) not in _REFERENCES:
        folder = pretrained / f"reference-{name}-{target.w_bits}"
        folder.mkdir()
        for path in pretrained.glob("*.pt"):
            shutil.copy(path, folder / path.name)
        _REFERENCES[name, target] = _run(_evaluator(folder), name, target)
        assert not list(folder.glob(PARTIALS))
    return _REFERENCES[name, target]


def _stopped(cache: Path, name: str, after: int, target: BitTargets = TARGET) -> Path:
    """A run stopped right after epoch ``after`` (the stop asked from the log line of that
    epoch, so it takes effect at the next batch); returns its partial checkpoint."""
    ev = _evaluator(cache)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith(f"supernet {target} epoch {after}/{EPOCHS}:"):
            ev.stop.request("test")

    ev.log = log
    with pytest.raises(TrainingStopped, match=f"interrupted \\(test\\) during supernet {target} epoch {after + 1}"):
        _run(ev, name, target)
    partials = list(cache.glob(PARTIALS))
    assert len(partials) == 1
    saved = torch.load(partials[0], weights_only=True)
    assert saved["kind"] == "supernet" and saved["book"]["epoch"] == after
    assert len(saved["book"]["layer_history"]) == after
    return partials[0]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("after", [1, 2])
def test_a_stopped_supernet_resumes_after_its_epoch_and_ends_bit_for_bit(pretrained, cache, name, after):
    expected, expected_state = _reference(pretrained, name)
    partial = _stopped(cache, name, after)
    ev = _evaluator(cache)
    lines: list[str] = []
    ev.log = lines.append
    report, state = _run(ev, name)
    assert lines[0] == f"supernet {TARGET}: resuming from {partial} after epoch {after}/{EPOCHS}"
    assert [line.split(":")[0] for line in lines[1:]] == [f"supernet {TARGET} epoch {e}/{EPOCHS}" for e in range(after + 1, EPOCHS + 1)]
    assert report["learned"] == expected["learned"]  # the final learned bits, unrounded
    assert report["snapped"] == expected["snapped"]  # the snapped config
    assert report == expected  # trajectory, per-epoch snapshots, renewals, accuracy
    assert _equal(state, expected_state)  # weights, step sizes, B̂/T̂/θ, BatchNorm
    assert not partial.exists() and not list(cache.glob(PARTIALS))


def test_the_run_moves_its_bits_across_the_checkpointed_epochs(pretrained):
    """The cases are worth resuming: the rounded config changes after epoch 1 in each."""
    for name in CASES:
        expected, _ = _reference(pretrained, name)
        epochs = [entry["layers"] for entry in expected["layer_history"]]
        assert len(epochs) == EPOCHS
        assert epochs[0] != epochs[-1] or name == "sgd-cosine", name


@pytest.mark.parametrize("damage", ["garbage", "truncated", "epoch out of range", "unknown module", "other target's"])
def test_a_damaged_or_foreign_partial_checkpoint_is_ignored(pretrained, cache, damage):
    expected, expected_state = _reference(pretrained, "gumbel")
    if damage == "other target's":  # another run's checkpoint under this run's name: its key differs
        foreign = _stopped(cache, "gumbel", 1, OTHER)
        ev = _evaluator(cache)
        options, gumbel = CASES["gumbel"]
        model = ev.full_precision_model()
        partial = supernet_checkpoint(ev, model, TARGET, options, seed=0, gumbel=gumbel,
                                      start=initial_config(ev.space, options.init_bits), epochs=EPOCHS)
        foreign.rename(partial)
    else:
        partial = _stopped(cache, "gumbel", 1)
        blob = partial.read_bytes()
        if damage == "garbage":
            partial.write_bytes(b"not a checkpoint")
        elif damage == "truncated":
            partial.write_bytes(blob[: len(blob) // 2])
        else:  # readable and its own, but it does not fit: the restore fails part-way and starts over
            saved = torch.load(partial, weights_only=True)
            if damage == "epoch out of range":
                saved["book"]["epoch"] = EPOCHS
            else:
                saved["modules"]["no.such.module"] = {"bits": 3}
            torch.save(saved, partial)
    ev = _evaluator(cache)
    lines: list[str] = []
    ev.log = lines.append
    report, state = _run(ev, "gumbel")
    assert lines[0].startswith(f"supernet {TARGET}: ignoring the partial checkpoint {partial}") and lines[0].endswith("starting over")
    assert not any("resuming" in line for line in lines)
    assert report == expected and _equal(state, expected_state)
    assert not partial.exists() and not list(cache.glob(PARTIALS))


def test_a_partial_checkpoint_of_other_settings_is_not_found(pretrained, cache):
    expected, expected_state = _reference(pretrained, "adam")
    other = _stopped(cache, "adam", 1, OTHER)
    blob = other.read_bytes()
    ev = _evaluator(cache)
    lines: list[str] = []
    ev.log = lines.append
    report, state = _run(ev, "adam")
    assert not any("resuming" in line or "ignoring" in line for line in lines)
    assert report == expected and _equal(state, expected_state)
    assert other.read_bytes() == blob  # the other run's checkpoint is left for it
    assert list(cache.glob(PARTIALS)) == [other]


def test_the_checkpoint_is_named_for_everything_that_decides_the_run(cache):
    ev = _evaluator(cache)
    model = ev.full_precision_model()
    options = DifferentiableOptions(supernet_epochs=EPOCHS)
    start = initial_config(ev.space, None)

    def name(target=TARGET, opts=options, seed=0, gumbel=False, begin=start, epochs=EPOCHS) -> str:  # noqa: ANN001
        path = supernet_checkpoint(ev, model, target, opts, seed=seed, gumbel=gumbel, start=begin, epochs=epochs)
        assert path is not None and path.parent == cache and path.name.endswith(".partial.pt")
        return path.name

    base = name()
    assert base.startswith(f"{model.arch[0]}-digits-seed0-") and "-supernet-" in base
    # Options that only decide what happens after the supernet, or which targets run, do not.
    assert name(opts=options.replace(target_tolerance=1.0, targets="1/1/1,2/2/1")) == base
    others = [
        name(target=OTHER), name(opts=options.replace(bits_lr=0.2)), name(opts=options.replace(renewal="both")),
        name(opts=options.replace(lambdas=(0.1, 0.04, 0.01))), name(seed=1), name(gumbel=True), name(epochs=EPOCHS + 1),
        name(begin=initial_config(ev.space, "largest")), name(opts=GumbelOptions(supernet_epochs=EPOCHS, temperature=(4.0, 1.0))),
    ]
    assert base not in others and len(set(others)) == len(others)
    layer = ev.space.decisions[-1]
    options_of = ev.space.layers[layer]
    ev.space = ev.space.with_options(layer, dataclasses.replace(options_of, w_bits=options_of.w_bits[1:]))
    assert name() != base  # the space
