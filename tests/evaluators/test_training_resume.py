"""Work that survives at real size (issue 26): pretraining saves a partial checkpoint after each
epoch and resumes from it, and a stop request ends every training loop within one batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikebits.evaluators import Evaluator, StopRequest, training
from spikebits.space import TrainingStopped


class StopAt(StopRequest):
    """A stop requested at the ``at``-th batch boundary; counts the boundaries checked."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.checks = at, 0

    def check(self, where: str = "training") -> None:
        self.checks += 1
        if self.checks == self.at:
            self.request("test")
        super().check(where)


def _data() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(1)
    train = TensorDataset(torch.randn(10, 4, generator=g), torch.randint(0, 2, (10,), generator=g))
    val = TensorDataset(torch.randn(100, 4, generator=g), torch.randint(0, 2, (100,), generator=g))
    return train, val


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2))  # dropout: the global RNG matters


def _plateau(model: nn.Module, **kw) -> list[training.PlateauRound]:  # noqa: ANN003
    train, val = _data()
    # Rounds of 3 epochs (25 samples / 10 per epoch), batches of 5 (2 per epoch); on this data the
    # third round stops improving (epoch 9) and the anneal takes 3 epochs (10 to 12).
    return training.train_to_plateau(model, train, val, training.TrainSettings(epochs=None, batch_size=5), round_samples=25,
                                     max_epochs=20, **kw)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _summary(rounds: list[training.PlateauRound]) -> list[tuple]:
    return [(r.epoch, r.loss, r.accuracy, r.anneal) for r in rounds]


@pytest.mark.parametrize("stopped_after", [1, 3, 4, 9, 10, 11])  # in a round, at its end, in the anneal
def test_an_interrupted_pretraining_rule_resumes_where_it_stopped_and_ends_the_same(tmp_path, stopped_after):
    whole = _model()
    expected = _plateau(whole)
    assert [r.epoch for r in expected] == [3, 6, 9, 12]  # the data gives the path the parameters aim at
    partial = tmp_path / "key.partial.pt"
    with pytest.raises(TrainingStopped, match="interrupted \\(test\\) during pretrain epoch"):
        _plateau(_model(), stop=StopAt(2 * stopped_after + 1), checkpoint=partial, checkpoint_key="key")
    saved = torch.load(partial, weights_only=True)
    assert saved["book"]["epoch"] == stopped_after
    lines: list[str] = []
    resumed_model = _model()
    with torch.no_grad():
        resumed_model[0].weight.fill_(0.0)  # the start does not matter: the checkpoint's weights are loaded
    resumed = _plateau(resumed_model, checkpoint=partial, checkpoint_key="key", log=lines.append, stop=StopAt(0))
    assert lines[0].startswith(f"pretrain: resuming from {partial} after epoch {stopped_after}")
    assert _summary(resumed) == _summary(expected)
    assert _equal(resumed_model.state_dict(), whole.state_dict())  # bit for bit on CPU


def test_an_interrupted_fixed_length_training_resumes_where_it_stopped(tmp_path):
    train, _ = _data()
    settings = training.TrainSettings(epochs=4, batch_size=5)
    whole = _model()
    expected = training.train(whole, train, settings)
    partial = tmp_path / "p.partial.pt"
    with pytest.raises(TrainingStopped):
        training.train(_model(), train, settings, stop=StopAt(2 * 2 + 1), checkpoint=partial, checkpoint_key="k")
    lines: list[str] = []
    model = _model()
    assert training.train(model, train, settings, checkpoint=partial, checkpoint_key="k", log=lines.append) == expected
    assert lines[0].startswith(f"train: resuming from {partial} after epoch 2/4")
    assert _equal(model.state_dict(), whole.state_dict())


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key", "other kind"])
def test_a_damaged_or_foreign_partial_checkpoint_is_ignored(tmp_path, damage):
    whole = _model()
    expected = _plateau(whole)
    partial = tmp_path / "key.partial.pt"
    with pytest.raises(TrainingStopped):
        _plateau(_model(), stop=StopAt(2 * 4 + 1), checkpoint=partial, checkpoint_key="key")
    blob = partial.read_bytes()
    if damage == "garbage":
        partial.write_bytes(b"not a checkpoint")
    elif damage == "truncated":
        partial.write_bytes(blob[: len(blob) // 2])
    key, kind = ("other", "plateau") if damage == "other key" else ("key", "train")
    lines: list[str] = []
    model = _model()
    if damage in ("other key", "other kind"):
        rounds = (training.train(model, _data()[0], training.TrainSettings(epochs=2, batch_size=5), checkpoint=partial,
                                 checkpoint_key=key, log=lines.append) if kind == "train"
                  else _plateau(model, checkpoint=partial, checkpoint_key=key, log=lines.append))
        assert "ignoring the partial checkpoint" in lines[0] and "starting over" in lines[0]
        if kind == "plateau":
            assert _summary(rounds) == _summary(expected) and _equal(model.state_dict(), whole.state_dict())
        return
    rounds = _plateau(model, checkpoint=partial, checkpoint_key="key", log=lines.append)
    assert "ignoring the partial checkpoint" in lines[0] and "starting over" in lines[0]
    assert _summary(rounds) == _summary(expected)
    assert _equal(model.state_dict(), whole.state_dict())


@pytest.mark.parametrize("at", [1, 3, 7])
def test_a_stop_request_ends_training_within_one_batch(at):
    train, _ = _data()
    stop = StopAt(at)
    with pytest.raises(TrainingStopped, match="interrupted \\(test\\) during fine-tune epoch"):
        training.train(_model(), train, training.TrainSettings(epochs=5, batch_size=5), stop=stop, description="fine-tune")
    assert stop.checks == at  # no batch ran after the one during which it was asked
    stop = StopAt(at)
    with pytest.raises(TrainingStopped):
        _plateau(_model(), stop=stop)
    assert stop.checks == at


def _tiny_evaluator(cache: Path, **kw) -> Evaluator:  # noqa: ANN003
    return Evaluator("digits_cnn", "digits", seed=0, pretrain_epochs=3, epochs=1, model_kwargs={"width": 0.25}, cache_dir=cache, **kw)


@pytest.mark.slow
def test_pretrained_state_keeps_a_partial_checkpoint_and_resumes_it(tmp_path):
    whole = _tiny_evaluator(tmp_path / "whole").pretrained()[0]
    cache = tmp_path / "cache"
    stopped = _tiny_evaluator(cache)
    batches = -(-len(stopped.data.train) // 64)
    stopped.stop = StopAt(2 * batches + 1)  # the first batch of epoch 3
    with pytest.raises(TrainingStopped, match="during pretrain epoch 3"):
        stopped.pretrained()
    partials = list(cache.glob("*.partial.pt"))
    assert len(partials) == 1 and not list(cache.glob("*[0-9a-f].pt"))
    assert torch.load(partials[0], weights_only=True)["book"]["losses"].__len__() == 2
    lines: list[str] = []
    resumed = _tiny_evaluator(cache, log=lines.append)
    state, _ = resumed.pretrained()
    assert any(line.startswith("pretrain: resuming from") and "after epoch 2/3" in line for line in lines)
    assert _equal(state, whole)
    assert not partials[0].exists() and len(list(cache.glob("*.pt"))) == 1


@pytest.mark.slow
def test_a_stop_request_ends_a_supernet_within_one_batch(tmp_path):
    from spikebits.search.differentiable import DifferentiableOptions, train_supernet
    from spikebits.space import BitTargets

    ev = _tiny_evaluator(tmp_path)
    ev.pretrained()
    ev.stop = StopAt(3)
    with pytest.raises(TrainingStopped, match="during supernet"):
        train_supernet(ev, BitTargets(3.0, 2.0, 1.0), DifferentiableOptions())
    assert ev.stop.checks == 3
