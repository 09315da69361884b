"""Property tests (hypothesis): quantizers stay on their level sets and are idempotent, Pareto
fronts hold no dominated point, hypervolume never shrinks when a point is added, valid configs
and spaces round-trip through JSON, and any JSON document or text given to the loaders either
loads or raises a one-line ConfigError, never another exception."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikebits.evaluators.energy import PRESETS, load_energy_model
from spikebits.models import quantize_pow2, quantize_signed, quantize_unsigned
from spikebits.models.quantizers import pow2_max_shift, pow2_project, signed_levels, unsigned_levels
from spikebits.results import TrialRecord, hypervolume, pareto_front
from spikebits.space import SCHEMES, Budget, Config, ConfigError, LayerChoice, LayerOptions, SearchSpace, direction

# No example database: the tests must not leave a .hypothesis folder in the repository.
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def one_line(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, f"error message must be one non-empty line, got {msg!r}"
    return msg


# ----------------------------------------------------------------------------- quantizers
BITS = st.integers(1, 16)
#: Powers of two make x/α and level·α exact in float32, so level-set membership is exact.
POW2_STEPS = st.integers(-6, 6).map(lambda k: 2.0**k)
STEPS = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
VALUES = st.lists(st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=64)


def tensor(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def step(alpha: float) -> torch.Tensor:
    return torch.tensor(alpha, dtype=torch.float32)


def levels_of(out: torch.Tensor, alpha: float) -> set[float]:
    return set((out / alpha).tolist())


@FAST
@given(VALUES, POW2_STEPS, BITS)
def test_signed_quantizer_stays_on_its_levels(values, alpha, bits):
    out = quantize_signed(tensor(values), step(alpha), bits)
    qp = signed_levels(bits)
    allowed = {-1.0, 1.0} if bits == 1 else {float(k) for k in range(-qp, qp + 1)}
    assert levels_of(out, alpha) <= allowed


@FAST
@given(VALUES, POW2_STEPS, BITS)
def test_pow2_quantizer_stays_on_its_levels(values, alpha, bits):
    out = quantize_pow2(tensor(values), step(alpha), bits)
    if bits == 1:
        allowed = {-1.0, 1.0}
    else:
        powers = {2.0**-k for k in range(pow2_max_shift(bits) + 1)}
        allowed = {0.0} | powers | {-p for p in powers}
    assert levels_of(out, alpha) <= allowed


@FAST
@given(st.lists(st.floats(-1.0, 1.0, width=32), min_size=1, max_size=64), BITS)
def test_pow2_project_gives_powers_of_two_and_is_idempotent(values, bits):
    u = tensor(values)
    out = pow2_project(u.clone(), bits)
    powers = {2.0**-k for k in range(pow2_max_shift(bits) + 1)}
    assert set(out.tolist()) <= {0.0} | powers | {-p for p in powers}
    assert torch.equal(pow2_project(out.clone(), bits), out)
    # the sign is kept (or the value goes to zero)
    assert bool(((out == 0) | (torch.sign(out) == torch.sign(u))).all())


@FAST
@given(VALUES, POW2_STEPS, BITS)
def test_unsigned_quantizer_stays_on_its_levels(values, gamma, bits):
    out = quantize_unsigned(tensor(values), step(gamma), bits)
    assert levels_of(out, gamma) <= {float(k) for k in range(unsigned_levels(bits) + 1)}


@FAST
@given(VALUES, STEPS, BITS, st.sampled_from(["signed", "pow2", "unsigned"]))
def test_quantizers_are_idempotent(values, alpha, bits, kind):
    q = {"signed": quantize_signed, "pow2": quantize_pow2, "unsigned": quantize_unsigned}[kind]
    a = step(alpha)
    once = q(tensor(values), a, bits)
    assert torch.equal(q(once, a, bits), once)


# ----------------------------------------------------------------------------- Pareto front, hypervolume
OBJECTIVE_SETS = st.sampled_from([("accuracy", "bit_budget"), ("accuracy", "bit_budget", "s_ace"), ("bit_budget", "s_ace")])
#: Values from small grids, so ties and equal points are common.
METRIC_VALUES = {
    "accuracy": st.integers(0, 10).map(lambda k: k / 10),
    "bit_budget": st.integers(1, 16).map(float),
    "s_ace": st.integers(0, 8).map(lambda k: k * 1e6),
}
REFERENCE = {"accuracy": 0.0, "bit_budget": 20.0, "s_ace": 1e7}


@st.composite
def records(draw, objectives, min_size=0, max_size=25):
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        metrics = {m: draw(METRIC_VALUES[m]) for m in objectives}
        out.append(TrialRecord.evaluated(i, None, metrics, strategy="prop", wall_time_s=0.0, budget=Budget()))
    return out


def dominates(p: TrialRecord, q: TrialRecord, objectives) -> bool:
    """p at least as good as q everywhere and better somewhere."""
    better = False
    for m in objectives:
        a, b = (p.metrics[m], q.metrics[m]) if direction(m) == "minimize" else (-p.metrics[m], -q.metrics[m])
        if a > b:
            return False
        better |= a < b
    return better


@FAST
@given(st.data())
def test_pareto_front_holds_no_dominated_point_and_misses_none(data):
    objectives = data.draw(OBJECTIVE_SETS)
    recs = data.draw(records(objectives))
    front = pareto_front(recs, objectives)
    for p in front:
        assert not any(dominates(q, p, objectives) for q in recs)
    ids = {id(r) for r in front}
    for r in recs:  # configs are None, so no record is dropped as a repeat
        assert id(r) in ids or any(dominates(q, r, objectives) for q in front)


@FAST
@given(st.data())
def test_hypervolume_never_decreases_when_a_point_is_added(data):
    objectives = data.draw(OBJECTIVE_SETS)
    recs = data.draw(records(objectives, max_size=15))
    extra = data.draw(records(objectives, min_size=1, max_size=1))[0]
    before = hypervolume(recs, objectives, REFERENCE)
    after = hypervolume([*recs, extra], objectives, REFERENCE)
    assert after >= before - 1e-9 * max(1.0, abs(before))
    assert before >= 0.0
    # dominated points add nothing: the front alone has the same hypervolume
    assert hypervolume(pareto_front(recs, objectives), objectives, REFERENCE) == pytest.approx(before, rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------- JSON round trips
LAYER_NAMES = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=12).filter(str.isprintable)
CHOICES = st.builds(LayerChoice, st.integers(1, 16), st.integers(1, 16), st.integers(1, 10_000), st.sampled_from(SCHEMES))
OPTIONS = st.builds(
    LayerOptions,
    w_bits=st.lists(st.integers(1, 16), min_size=1, max_size=5),
    s_bits=st.lists(st.integers(1, 16), min_size=1, max_size=5),
    timesteps=st.lists(st.integers(1, 64), min_size=1, max_size=4),
    schemes=st.lists(st.sampled_from(SCHEMES), min_size=1, max_size=2, unique=True),
)


@st.composite
def spaces(draw):
    names = draw(st.lists(LAYER_NAMES, min_size=1, max_size=6, unique=True))
    order = draw(st.permutations(names))
    groups, i = [], 0
    while i < len(order):
        size = draw(st.integers(1, min(3, len(order) - i)))
        groups.append(tuple(order[i : i + size]))
        i += size
    layers, pinned = {}, {}
    for group in groups:
        options = draw(OPTIONS)
        pin = draw(st.none() | CHOICES)
        for n in group:
            layers[n] = options
            if pin is not None:
                pinned[n] = pin
    model = draw(st.none() | st.sampled_from(["digits_cnn", "resnet20", "toy"]))
    return SearchSpace({n: layers[n] for n in names}, tuple(g for g in groups if len(g) > 1), pinned, model)


@FAST
@given(st.dictionaries(LAYER_NAMES, CHOICES, max_size=6))
def test_any_valid_config_round_trips_through_json(layers):
    config = Config(layers)
    text = config.to_json()
    back = Config.from_json(text)
    assert back == config and list(back) == list(config) and back.to_json() == text
    assert Config.from_json(config.to_json(indent=None)) == config


@FAST
@given(spaces())
def test_any_valid_space_round_trips_through_json(space):
    text = space.to_json()
    back = SearchSpace.from_json(text)
    assert back == space and back.names == space.names and back.to_json() == text


# ----------------------------------------------------------------------------- any document
KEYS = st.sampled_from(
    ["layers", "schema", "model", "ties", "pinned", "w_bits", "s_bits", "timesteps", "scheme", "schemes", "a", "b", ""]
) | st.text(max_size=8)
#: Values that broke loaders before: non-finite, huge, negative, integral and non-integral floats.
TRICKY = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, -1, 0, 4.0, 2.5, 10**30, True, "4", [], {}])
SCALARS = (
    TRICKY
    | st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # nan and ±inf included
    | st.text(max_size=10)
    | st.sampled_from(["spikebits.space/1", "uniform", "pow2", "a", "b"])
    | st.integers(-2, 20)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


def loads_or_config_error(load, arg) -> None:
    try:
        load(arg)
    except ConfigError as err:
        one_line(err)


@FUZZ
@given(DOCUMENTS)
def test_any_json_document_loads_or_is_a_config_error(doc):
    text = json.dumps(doc, allow_nan=True)
    for load in (Config.from_json, SearchSpace.from_json, Config.from_dict, SearchSpace.from_dict):
        loads_or_config_error(load, doc if load.__name__ == "from_dict" else text)


#: Documents close to real files, so that every per-layer and per-tie check is reached.
NAMES = st.sampled_from(["a", "b", "c"])
VALUE = st.integers(1, 16) | TRICKY | SCALARS | st.lists(SCALARS, max_size=3)
LIST_VALUE = st.lists(st.integers(1, 16) | TRICKY | VALUE, max_size=3) | TRICKY
CHOICE_DOCS = st.fixed_dictionaries(
    {"w_bits": VALUE, "s_bits": VALUE, "timesteps": VALUE}, optional={"scheme": VALUE | st.sampled_from(SCHEMES), "bits": VALUE}
)
OPTION_DOCS = st.fixed_dictionaries({}, optional={"w_bits": LIST_VALUE, "s_bits": LIST_VALUE, "timesteps": LIST_VALUE, "schemes": LIST_VALUE, "depth": VALUE})
CONFIG_DOCS = st.fixed_dictionaries({"layers": st.dictionaries(NAMES, CHOICE_DOCS | DOCUMENTS, max_size=3)}, optional={"pined": VALUE})
SPACE_DOCS = st.fixed_dictionaries(
    {"layers": st.dictionaries(NAMES, OPTION_DOCS | OPTION_DOCS | DOCUMENTS, max_size=3)},
    optional={
        "ties": st.lists(st.lists(NAMES | NAMES | VALUE, max_size=3), max_size=3) | VALUE,
        "pinned": st.dictionaries(NAMES | st.text(max_size=3), CHOICE_DOCS | VALUE, max_size=3) | VALUE,
        "schema": st.just("spikebits.space/1") | VALUE,
        "model": st.none() | st.text(max_size=5) | VALUE,
        "pined": VALUE,
    },
)


@FUZZ
@given(CONFIG_DOCS | SPACE_DOCS)
def test_documents_shaped_like_configs_and_spaces_load_or_are_config_errors(doc):
    text = json.dumps(doc, allow_nan=True)
    for load in (Config.from_json, SearchSpace.from_json, Config.from_dict, SearchSpace.from_dict):
        loads_or_config_error(load, doc if load.__name__ == "from_dict" else text)


@FAST
@given(st.text(max_size=60) | st.binary(max_size=60))
def test_any_text_or_bytes_loads_or_is_a_config_error(text):
    loads_or_config_error(Config.from_json, text)
    loads_or_config_error(SearchSpace.from_json, text)


ENERGY_KEYS = st.sampled_from(
    ["datapath", "add_pj_per_bit", "mult_pj_per_bit2", "synop_pj", "spike_pj", "neuron_pj", "neuron_adds",
     "membrane_bits", "accumulator_bits", "sram_bytes", "sram_pj_per_64bit", "dram_pj_per_64bit", "name"]
)


@settings(max_examples=50, deadline=None, database=None)
@given(st.dictionaries(ENERGY_KEYS, DOCUMENTS | st.sampled_from(["multiply", "shift_add"]), max_size=3))
def test_any_energy_preset_document_loads_or_is_a_config_error(tmp_path_factory, change):
    """The default preset with up to three constants replaced by any JSON value."""
    doc = {k: list(v) if isinstance(v, tuple) else v for k, v in PRESETS["horowitz45nm"].to_dict().items()}
    doc.update(change)
    path = tmp_path_factory.mktemp("energy", numbered=True) / "chip.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        model = load_energy_model(path)
    except ConfigError as err:
        one_line(err)
    else:
        values = [v for k, v in model.to_dict().items() if k not in ("name", "datapath", "description")]
        assert all(math.isfinite(x) and x >= 0 for v in values for x in (v if isinstance(v, list) else [v]))
