"""Mixed precision (bf16 autocast): the synapses' products may run in bf16, but the neurons
and quantizers run in float32, so every integer level is that of a float32 run."""

from __future__ import annotations

import torch

from spikebits.evaluators.evaluator import resolve_device
from spikebits.evaluators.training import TrainSettings, train
from spikebits.models import apply_config, build, default_space
from spikebits.space import Config, LayerChoice


def _mixed_resnet19():  # noqa: ANN202 - a SpikingNetwork
    torch.manual_seed(0)
    model = build("resnet19", num_classes=5, widths=(4, 8, 8), blocks=(1, 1, 1), head_width=8, image_size=16)
    space = default_space(model)
    choices = {n: LayerChoice((2, 4, 3)[i % 3], (1, 2, 4)[i % 3], (1, 2)[i % 2], ("uniform", "pow2")[i % 4 == 1])
               for i, n in enumerate(space.decisions)}
    apply_config(model, space.complete(Config(choices)))
    with torch.no_grad():
        model(torch.rand(4, 3, 16, 16))  # initialises every α and γ
    return model


def test_levels_under_bf16_autocast_equal_the_float32_levels():
    model = _mixed_resnet19()
    currents = {}
    for name, layer in model.spiking_layers().items():
        torch.manual_seed(hash(name) % 1000)
        current = torch.randn(3, *_input_of(model, name)) * 2
        currents[name] = current
        with torch.autocast("cpu", dtype=torch.bfloat16):
            spikes_amp, weight_amp = layer.spikes(current.bfloat16()), layer.quantized_weight()
        spikes, weight = layer.spikes(current.bfloat16().float()), layer.quantized_weight()
        assert spikes_amp.dtype == torch.float32 and weight_amp.dtype == torch.float32
        assert torch.equal(spikes_amp, spikes) and torch.equal(weight_amp, weight), name
        gamma = layer.neuron.gamma.detach().view(-1, *([1] * (spikes.dim() - 1)))
        levels = (spikes / gamma).detach()  # level·γ / γ: integers up to float rounding
        q = 2 ** layer.choice.s_bits - 1
        assert torch.allclose(levels, levels.round(), atol=1e-4) and levels.min() >= 0 and levels.round().max() <= q, name


def _input_of(model, name):  # noqa: ANN001, ANN202
    from spikebits.models import layer_specs

    return next(s.input_shape for s in layer_specs(model) if s.name == name)


def test_training_under_bf16_autocast_learns_and_keeps_float32_weights():
    model = _mixed_resnet19()
    torch.manual_seed(1)
    x = torch.rand(64, 3, 16, 16)
    y = (x.mean(dim=(1, 2, 3)) > x.mean()).long()  # a learnable two-class rule
    data = torch.utils.data.TensorDataset(x, y)
    losses = train(model, data, TrainSettings(epochs=4, lr=3e-3, batch_size=16, seed=0, amp=True))
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_device_auto_is_cuda_only_where_a_gpu_is_there():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
