"""``--channels-last``: training in the NHWC memory format runs the same arithmetic in another
order — one step's loss and gradients match a contiguous run's, the weights end up channels-last, the pretraining
cache tells the two apart only when it is on, and the CLI passes the flag through."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from spikebits.evaluators.training import TrainSettings, batch_format, pretrain_cache_key, to_memory_format, train
from spikebits.models import apply_config, build, default_space
from spikebits.space import Config, LayerChoice

torch.set_num_threads(1)


def _mixed(name: str, **kwargs):  # noqa: ANN202 - a SpikingNetwork
    torch.manual_seed(0)
    model = build(name, num_classes=5, image_size=16, **kwargs)
    space = default_space(model)
    choices = {n: LayerChoice((2, 4, 3)[i % 3], (1, 2, 4)[i % 3], (1, 2)[i % 2], ("uniform", "pow2")[i % 4 == 1])
               for i, n in enumerate(space.decisions)}
    apply_config(model, space.complete(Config(choices)))
    return model


def test_training_channels_last_matches_contiguous():
    """One step: the same outputs and gradients up to float summation order. Over many steps
    the runs drift apart as any two float orders do (a level that rounds the other way)."""
    torch.manual_seed(1)
    x, y = torch.rand(16, 3, 16, 16), torch.randint(0, 5, (16,))
    on = TrainSettings(channels_last=True)
    for name, kwargs in (("resnet19", {"widths": (4, 8, 8), "blocks": (1, 1, 1), "head_width": 8}),
                         ("sew_resnet18", {"widths": (4, 4, 8, 8), "blocks": (1, 1, 1, 1), "stem": "cifar"}),
                         ("vgg_dvs", {"widths": (4, 4, 8, 8, 8, 8, 8, 8), "in_channels": 3})):
        runs = []
        for settings in (TrainSettings(), on):
            model = _mixed(name, **kwargs)
            model.train()
            to_memory_format(model, settings)
            loss = torch.nn.functional.cross_entropy(model(batch_format(x, settings)), y)
            loss.backward()
            runs.append((float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
            # (a 1×1 kernel is contiguous in both formats: only the 3×3 ones tell them apart)
            convs = [m.synapse.weight for m in model.spiking_layers().values() if m.kind == "conv" and m.synapse.kernel_size == (3, 3)]
            assert all(w.is_contiguous(memory_format=torch.channels_last) == settings.channels_last for w in convs), name
        (loss_a, grads_a), (loss_b, grads_b) = runs
        assert abs(loss_a - loss_b) < 1e-5 and grads_a.keys() == grads_b.keys()
        for key in grads_a:
            assert torch.allclose(grads_a[key], grads_b[key], rtol=1e-3, atol=1e-6), (name, key)
        # and train() runs in the format it was asked for
        model = _mixed(name, **kwargs)
        train(model, TensorDataset(x, y), TrainSettings(epochs=1, batch_size=8, channels_last=True))
        convs = [m.synapse.weight for m in model.spiking_layers().values() if m.kind == "conv" and m.synapse.kernel_size == (3, 3)]
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


def test_batch_format_only_touches_image_batches():
    on = TrainSettings(channels_last=True)
    x = torch.rand(2, 3, 4, 4)
    assert batch_format(x, on).is_contiguous(memory_format=torch.channels_last)
    assert batch_format(x, TrainSettings()) is x
    tokens = torch.rand(2, 5, 8)
    assert batch_format(tokens, on) is tokens


def test_the_cache_key_names_channels_last_only_when_on():
    model = build("digits_cnn")
    plain = pretrain_cache_key(model, "digits", 0, TrainSettings())
    assert plain == pretrain_cache_key(model, "digits", 0, TrainSettings(channels_last=False))
    assert plain != pretrain_cache_key(model, "digits", 0, TrainSettings(channels_last=True))


def test_cli_passes_channels_last(tmp_path):
    from spikebits.search.cli import build_parser
    from spikebits.search.cli.common import make_evaluator

    args = build_parser().parse_args(["search", "--channels-last", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "run")])
    evaluator = make_evaluator(args)
    assert evaluator.finetune_settings.channels_last and evaluator.pretrain_settings.channels_last
    assert evaluator.describe()["finetune"]["channels_last"] is True  # what run.json records
    args = build_parser().parse_args(["search", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "run")])
    assert not make_evaluator(args).finetune_settings.channels_last
