"""models: spikformer — Spikformer-4-384's parameter count (the paper's 9.32 M) and MACs by
hand, the spike-spike products of the self-attention (on the S-bit grid, computed per step,
counted by S-ACE and the energy model as documented), ties, forward/backward under a mixed
config, the supernet's shared B̂_s and T̂, and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from spikebits.evaluators.cost import attention_bit_products, cost_metrics, s_ace
from spikebits.evaluators.energy import attention_compute, energy_report, load_energy_model
from spikebits.models import Supernet, apply_config, build, default_space, layer_specs
from spikebits.models.network import LayerSpec
from spikebits.space import BitTargets, Config, ConfigError, LayerChoice

torch.set_num_threads(1)

SMALL = {"embed_dim": 16, "depth": 2, "heads": 2, "mlp_ratio": 2.0, "num_classes": 5}


def meta_build(**kwargs):
    with torch.device("meta"):
        return build("spikformer", **kwargs)


# ----------------------------------------------------------------------------- structure
def test_spikformer_4_384_parameters_by_hand():
    """Spikformer-4-384 on CIFAR-10: 9.32 M parameters in the paper (Zhou et al. 2023, table 2)."""
    d, h, classes = 384, 1536, 10
    tokenizer = sum(9 * a * b + 2 * b for a, b in ((3, 48), (48, 96), (96, 192), (192, 384), (384, 384)))  # conv + BN
    attention = 3 * (d * d + 2 * d) + (d * d + d + 2 * d)  # q, k, v (no bias) + BN; proj (bias) + BN
    mlp = (d * h + h + 2 * h) + (h * d + d + 2 * d)
    head = d * classes + classes
    expected = tokenizer + 4 * (attention + mlp) + head
    assert expected == 9_320_122 and round(expected / 1e6, 2) == 9.32
    model = meta_build()
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)  # what the paper counts (no step sizes)
    assert sum(p.numel() for m in model.modules() if isinstance(m, kinds) for p in m.parameters(recurse=False)) == expected
    assert len(model.layer_names) == 5 + 4 * 6 + 1


def test_spikformer_4_384_macs_and_attention_products_by_hand():
    specs = {s.name: s for s in layer_specs(meta_build())}
    # tokenizer at 32×32, max-pools after conv3 (→16×16) and conv4 (→8×8): 64 tokens of 384
    assert specs["tokenizer.conv1"].macs == 32 * 32 * 9 * 3 * 48
    assert specs["tokenizer.conv3"].macs == 32 * 32 * 9 * 96 * 192
    assert specs["tokenizer.conv4"].macs == 16 * 16 * 9 * 192 * 384
    assert specs["tokenizer.rpe"].macs == 8 * 8 * 9 * 384 * 384
    q = specs["blocks.0.attn.q"]
    assert q.macs == 64 * 384 * 384 and q.n_inputs == q.n_outputs == 64 * 384
    assert specs["blocks.0.mlp.fc1"].macs == 64 * 384 * 1536
    assert specs["head"].macs == 384 * 10 and specs["head"].n_inputs == 384
    # the attention's two products per step, 12 heads of d = 32: 12·64²·32 each
    assert (q.attention_products, q.attention_tokens, q.attention_head_dim) == (12 * 64 * 64 * 32, 64, 32)
    assert all(specs[f"blocks.0.attn.{n}"].attention_products == 0 for n in ("k", "v", "proj"))
    assert [specs[f"blocks.0.attn.{n}"].output_neurons for n in ("q", "k", "v", "proj")] == [64 * 384] * 3 + [0]
    total = sum(s.macs for s in specs.values())
    per_block = 4 * 64 * 384 * 384 + 2 * 64 * 384 * 1536
    tokenizer = 32 * 32 * 9 * (3 * 48 + 48 * 96 + 96 * 192) + 16 * 16 * 9 * 192 * 384 + 8 * 8 * 9 * 384 * 384
    assert total == tokenizer + 4 * per_block + 384 * 10 == 921_456_384


def test_ties_and_shared_spikes():
    model = build("spikformer", **SMALL)
    assert model.ties == (
        ("blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v"),
        ("blocks.1.attn.q", "blocks.1.attn.k", "blocks.1.attn.v"),
    )
    layers = model.spiking_layers()
    assert layers["blocks.1.attn.k"].spike_source == layers["blocks.1.attn.v"].spike_source == "blocks.1.attn.q"
    assert layers["blocks.1.attn.q"].spike_source is None  # its own neuron
    space = default_space(model)
    assert "tokenizer.conv1" not in space.free_layers  # the encoder, pinned
    assert "blocks.0.attn.q" in space.decisions and "blocks.0.attn.k" not in space.decisions
    assert space.group_of("blocks.0.attn.q") == ("blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v")


def test_build_takes_input_shape():
    model = build("spikformer", input_shape=(2, 24, 24), **SMALL)
    assert model.input_shape == (2, 24, 24) and model.arch[1]["in_channels"] == 2
    assert layer_specs(model)[5].attention_tokens == (24 // 4) ** 2
    with pytest.raises(ConfigError, match="H = W"):
        build("spikformer", input_shape=(3, 32, 16))
    with pytest.raises(ConfigError, match="not both"):
        build("spikformer", input_shape=(3, 32, 32), image_size=32)
    with pytest.raises(ValueError, match="not divisible by heads"):
        build("spikformer", embed_dim=16, heads=3)
    with pytest.raises(ValueError, match="patch_size"):
        build("spikformer", patch_size=3)


# ----------------------------------------------------------------------------- forward
def mixed_config(model) -> Config:
    """Every decision cycles through four choices, so neighbouring layers have different T."""
    space = default_space(model)
    cycle = [LayerChoice(4, 2, 1), LayerChoice(2, 4, 2, "pow2"), LayerChoice(3, 1, 4), LayerChoice(8, 2, 2)]
    return space.expand({n: cycle[i % 4] for i, n in enumerate(space.decisions)})


@pytest.mark.parametrize("neuron", ["refined", "lif"])
def test_train_step_under_a_mixed_config(neuron):
    torch.manual_seed(0)
    model = build("spikformer", image_size=16, neuron=neuron, **SMALL)
    config = mixed_config(model)
    steps = [config[n].timesteps for n in model.layer_names]
    assert any(a != b for a, b in zip(steps, steps[1:])) and len(set(steps)) == 3
    assert config["blocks.0.attn.q"].timesteps != config["blocks.0.attn.proj"].timesteps
    apply_config(model, config)
    out = model(torch.rand(3, 3, 16, 16))
    assert out.shape == (3, 5)
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2])).backward()
    for name, layer in model.spiking_layers().items():
        assert layer.synapse.weight.grad is not None and torch.isfinite(layer.synapse.weight.grad).all(), name


def test_attention_multiplies_s_bit_spike_matrices_per_step():
    """Q, K, V are on the q/k/v group's S-bit grid (levels 0 … 2^S − 1 times γ_t) for its T
    steps, and proj's neuron receives mean_t((Q_t·K_tᵀ)·V_t)·scale, per head."""
    torch.manual_seed(0)
    model = build("spikformer", image_size=16, attention_scale=0.25, **SMALL)
    space = default_space(model)
    config = space.expand({n: LayerChoice(4, 2, 3) if ".attn.q" in n else LayerChoice(4, 3, 1) for n in space.decisions})
    apply_config(model, config)
    model.eval()
    attn = model.blocks[0].attn
    fired, proj_input = {}, {}
    for key in ("q", "k", "v"):
        layer = getattr(attn, key)
        layer.output_neuron.register_forward_hook(lambda _m, _i, out, _k=key: fired.__setitem__(_k, out.detach()))
    attn.proj.neuron.register_forward_pre_hook(lambda _m, args: proj_input.__setitem__("x", args[0].detach()))
    with torch.no_grad():
        model(torch.rand(4, 3, 16, 16))
    for key in ("q", "k", "v"):
        spikes, gamma = fired[key], getattr(attn, key).output_neuron.gamma.detach()
        assert spikes.shape == (3, 4, 16, 16)  # T = 3 steps, 4 samples, (16/4)² tokens, D = 16
        levels = spikes / gamma.view(-1, 1, 1, 1)
        assert torch.allclose(levels, levels.round(), atol=1e-4)
        assert levels.min() >= 0 and levels.max() <= 3 and levels.max() > 0
    heads = [fired[k].reshape(3, 4, 16, 2, 8).transpose(2, 3) for k in ("q", "k", "v")]
    by_hand = torch.stack([(heads[0][t] @ heads[1][t].transpose(-2, -1)) @ heads[2][t] for t in range(3)])
    by_hand = by_hand.transpose(2, 3).reshape(3, 4, 16, 16).mean(dim=0) * 0.25
    assert torch.allclose(proj_input["x"], by_hand, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- cost
def attention_spec(heads: int, tokens: int, head_dim: int) -> LayerSpec:
    d = heads * head_dim
    return LayerSpec(
        "q", "linear", d * d, tokens * d, tokens * d, tokens * d * d, (tokens, d), (tokens, d),
        output_neurons=tokens * d, attention_products=heads * tokens * tokens * head_dim,
        attention_tokens=tokens, attention_head_dim=head_dim,
    )


def test_attention_s_ace_by_hand():
    spec = attention_spec(heads=2, tokens=4, head_dim=8)  # P = 2·16·8 = 256 products per step
    # S = 1: B_A = ⌈log₂(8·1 + 1)⌉ = 4; T·P·(1·1 + 4·1) at T = 2
    assert spec.attention_map_bits(1) == 4
    assert attention_bit_products(spec, LayerChoice(4, 1, 2)) == 2 * 256 * 5
    # S = 2: B_A = ⌈log₂(8·9 + 1)⌉ = ⌈log₂ 73⌉ = 7; T·P·(2·2 + 7·2) at T = 3
    assert spec.attention_map_bits(2) == 7
    assert attention_bit_products(spec, LayerChoice(4, 2, 3)) == 3 * 256 * 18
    # S-ACE: the synapse's MACs·W·S·T plus the products
    config = Config({"q": LayerChoice(4, 2, 3)})
    assert s_ace([spec], config) == 4 * 16 * 16 * 4 * 2 * 3 + 3 * 256 * 18
    # the activity-aware variant scales the synapse only (Q, K, V rates are not measured)
    assert s_ace([spec], config, rates={"q": 0.5}) == 4 * 16 * 16 * 4 * 2 * 3 * 0.5 + 3 * 256 * 18


def test_attention_energy_by_hand():
    spec = attention_spec(heads=2, tokens=4, head_dim=8)
    model = load_energy_model("horowitz45nm")
    add, mult = model.add_pj_per_bit, model.mult_pj_per_bit2
    # S = 2, T = 1: Q·Kᵀ: 256 mults 2×2 into A₁ = 4 + 3 = 7 bits; (Q·Kᵀ)·V: 256 mults 7×2 into A₂ = 7 + 2 + 2 = 11
    adds, mults, pj = attention_compute(model, spec, LayerChoice(4, 2, 1))
    assert (adds, mults) == (512, 512)
    assert pj == pytest.approx(256 * (7 * add + 4 * mult) + 256 * (11 * add + 14 * mult))
    # S = 1: gated adds only (A₁ = 2 + 3 = 5, B_A = 4, A₂ = 4 + 1 + 2 = 7), T = 2
    adds, mults, pj = attention_compute(model, spec, LayerChoice(4, 1, 2))
    assert (adds, mults) == (1024, 0) and pj == pytest.approx(512 * 5 * add + 512 * 7 * add)
    # shift-add datapath: S shift-adds per product
    serial = load_energy_model("bitserial45nm")
    adds, mults, pj = attention_compute(serial, spec, LayerChoice(4, 2, 1))
    assert (adds, mults) == (1024, 0)
    assert pj == pytest.approx(256 * 2 * (7 * serial.add_pj_per_bit + serial.synop_pj) + 256 * 2 * (11 * serial.add_pj_per_bit + serial.synop_pj))
    # the layer's row: synapse + products + its input and output neurons (T updates each)
    row = energy_report([spec], Config({"q": LayerChoice(4, 2, 1)}), model).layers[0]
    assert row.neuron_updates == 2 * 4 * 16 and row.mults == 4 * 16 * 16 + 512


def test_uniform_cost_of_spikformer_4_384():
    specs = layer_specs(meta_build())
    model = build("spikformer")
    space = default_space(model)
    config = Config({s.name: LayerChoice(4, 4, 1) for s in specs})
    metrics = cost_metrics(specs, config, space)
    # B_A at S = 4, d = 32: ⌈log₂(32·225 + 1)⌉ = 13; per block 12·64²·32·(16 + 13·4)
    attention = 4 * 12 * 64 * 64 * 32 * (16 + 52)
    assert metrics["s_ace"] == 921_456_384 * 16 + attention == 15_171_121_152
    assert metrics["bit_budget"] == 16.0 and metrics["size_bits"] == 4 * sum(s.n_weights for s in specs)


# ----------------------------------------------------------------------------- supernet
def test_supernet_shares_learnable_s_and_t_with_the_attention_neurons():
    torch.manual_seed(0)
    model = build("spikformer", image_size=16, **SMALL)
    space = default_space(model)
    apply_config(model, space.expand({n: LayerChoice(4, 2, 2) for n in space.decisions}))
    supernet = Supernet(model, space, layer_specs(model))
    attn = model.blocks[0].attn
    shared = attn.q.neuron.bits_param
    assert shared is not None
    for layer in (attn.q, attn.k, attn.v):
        assert layer.output_neuron.bits_param is shared
        assert layer.output_neuron.timesteps_param is attn.q.neuron.timesteps_param
    out = model(torch.rand(4, 3, 16, 16))
    loss, _ = supernet.budget_loss(BitTargets(2, 2, 1))
    (nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])) + loss).backward()
    assert attn.q.neuron.timesteps_param.grad is not None and attn.q.neuron.timesteps_param.grad != 0
    # fixing the snapped config moves the output neurons with the layer
    config = space.expand({n: LayerChoice(4, 1 if ".attn." in n else 2, 4) for n in space.decisions})
    supernet.fix(config)
    with torch.no_grad():
        model(torch.rand(2, 3, 16, 16))
    assert attn.v.output_neuron.timesteps == 4 and attn.v.output_neuron.step_bits[:4] == [1, 1, 1, 1]


# ----------------------------------------------------------------------------- CLI
def test_cli_space_and_cost_only_evaluate(capsys, tmp_path):
    from spikebits.search.cli import main

    assert main(["space", "--model", "spikformer"]) == 0
    space = json.loads(capsys.readouterr().out)
    assert space["ties"][0] == ["blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v"] and len(space["ties"]) == 4
    args = ["evaluate", "--model", "spikformer", "--dataset", "cifar10", "--uniform", "4/4/1", "--cost-only", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out)
    # the encoder layer (tokenizer.conv1) stays pinned at W8/S8/T1
    conv1 = 32 * 32 * 9 * 3 * 48
    assert metrics["s_ace"] == 15_171_121_152 - conv1 * 16 + conv1 * 64
    assert math.isfinite(metrics["energy_pj"]) and metrics["energy_pj"] > 0


def test_cli_model_args_shrink_the_network(capsys, tmp_path):
    from spikebits.search.cli import main

    small = ["--model", "spikformer", "--model-arg", "embed_dim=32", "--model-arg", "depth=1", "--model-arg", "heads=2"]
    assert main(["space", *small]) == 0
    assert json.loads(capsys.readouterr().out)["ties"] == [["blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v"]]
    assert main(["evaluate", *small, "--dataset", "cifar10", "--uniform", "4/4/1", "--cost-only", "--cache-dir", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    model = build("spikformer", embed_dim=32, depth=1, heads=2)
    specs = layer_specs(model)
    config = default_space(model).complete(Config({n: LayerChoice(4, 4, 1) for n in default_space(model).decisions}))
    assert metrics["s_ace"] == s_ace(specs, config) and metrics["size_bits"] == sum(s.n_weights * config[s.name].w_bits for s in specs)
    # the search command's evaluator builds the same network (recorded in run.json)
    from spikebits.search.cli import build_parser
    from spikebits.search.cli.common import make_evaluator

    args = build_parser().parse_args(["search", *small, "--model-arg", "mlp_ratio=2", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    kwargs = make_evaluator(args).describe()["model_kwargs"]
    assert {k: kwargs[k] for k in ("embed_dim", "depth", "heads", "mlp_ratio")} == {"embed_dim": 32, "depth": 1, "heads": 2, "mlp_ratio": 2}
