"""Property-based bad inputs (issue 29): whatever text an option is given, the CLI answers with
exit code 2 and one line on stderr (no traceback, nothing on stdout), or accepts it; it never
ends in an internal error (exit 1), never hangs, never allocates without bound. Searches are
stopped where their work would start (run_search is replaced by a stand-in that refuses in
one line), so an accepted value costs nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikebits.search.runner as runner
from spikebits.search.cli import main
from spikebits.space import ConfigError

REACHED = "reached the search with these settings"


class Reached(ConfigError):
    """What the stand-in for run_search raises: every check before the work passed."""


@pytest.fixture
def stop_before_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def stand_in(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise Reached(REACHED)

    monkeypatch.setattr(runner, "run_search", stand_in)


def one_line_or_reached(capsys, argv: list[str]) -> None:  # noqa: ANN001 - pytest's capsys
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 or (code == 0 and "--cost-only" in argv), (argv, code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, (argv, err)
        assert "internal error" not in err and out == "", (argv, err)


#: Text near what the options expect: numbers of every size and sign, separators, words.
NUMBER = st.one_of(
    st.integers(min_value=-10**40, max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1_000", "", " ", "½", "٣", "1e-400", "auto", "none"]),
)
NEAR_TEXT = st.one_of(
    NUMBER,
    st.lists(NUMBER, min_size=1, max_size=5).map(",".join),
    st.lists(NUMBER, min_size=1, max_size=4).map("/".join),
    st.tuples(NUMBER, st.sampled_from(["", "p", "pp", "u", "P"]), NUMBER, NUMBER).map(lambda t: f"{t[0]}{t[1]}/{t[2]}/{t[3]}"),
    st.tuples(st.sampled_from(["bit_budget", "s_ace", "energy_pj", "accuracy", "nope", ""]), st.sampled_from(["<=", "<", "=", ">="]),
              NUMBER).map("".join),
    st.text(max_size=30),
)
SEARCH_OPTIONS = ["--lr", "--epochs", "--trials", "--seed", "--val-fraction", "--train-fraction", "--pretrain-epochs", "--workers",
                  "--threads", "--budget", "--objectives", "--input-shape", "--model-arg", "--targets", "--lambdas", "--temperature",
                  "--init-bits", "--supernet-epochs", "--target-tolerance", "--bits-lr"]
EVALUATE_OPTIONS = ["--uniform", "--input-shape", "--model-arg", "--seed", "--lanes", "--simulate-samples"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(SEARCH_OPTIONS), value=NEAR_TEXT)
def test_any_search_option_value_is_one_line_or_accepted(capsys, stop_before_work, tmp_path, option, value):
    argv = ["search", "--quiet", "--out", str(tmp_path / "out"), option, value]
    if option in ("--targets", "--lambdas", "--temperature", "--init-bits", "--supernet-epochs", "--target-tolerance", "--bits-lr"):
        argv[1:1] = ["--strategy", "differentiable"]
    one_line_or_reached(capsys, argv)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(EVALUATE_OPTIONS), value=NEAR_TEXT)
def test_any_cost_only_evaluate_value_is_one_line_or_accepted(capsys, option, value):
    argv = ["evaluate", "--cost-only", option, value]
    if option != "--uniform":
        argv += ["--uniform", "4/4/1"]
    one_line_or_reached(capsys, argv)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(["resnet20", "spikformer", "vgg_dvs", "sew_resnet18", "digits_cnn", "mnist_cnn", "resnet19"]),
       key=st.sampled_from(["width", "widths", "depth", "embed_dim", "heads", "num_classes", "blocks", "mlp_ratio", "image_size"]),
       value=st.one_of(NUMBER, st.lists(st.integers(-10**12, 10**12), max_size=4).map(lambda v: "[" + ",".join(map(str, v)) + "]")))
def test_any_model_argument_is_one_line_or_accepted(capsys, stop_before_work, tmp_path, model, key, value):
    # A model argument of any size is refused before anything is built (or accepted if sane).
    argv = ["search", "--quiet", "--model", model, "--dataset", "cifar10", "--model-arg", f"{key}={value}", "--out", str(tmp_path / "o")]
    one_line_or_reached(capsys, argv)


def test_the_stand_in_is_reached_by_good_values(capsys, stop_before_work, tmp_path):
    # The properties above are not vacuous: a good value passes every check and reaches the search.
    for option, value in (("--lr", "0.01"), ("--budget", "bit_budget<=4"), ("--input-shape", "1,16,16"), ("--model-arg", "width=2")):
        assert main(["search", "--quiet", "--out", str(tmp_path / "out"), option, value]) == 2
        assert REACHED in capsys.readouterr().err


class _Damaged:
    """A data set whose items are damaged files (what a loader worker finds)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):  # noqa: ANN204
        from spikebits.space import DataError

        raise DataError(f"events in sample-{index}.bin have x = -3, outside the sensor's 0..33; replace or remove it")


def test_an_error_from_a_loader_worker_is_its_own_one_line():
    # torch hands a worker's error back wrapped in the worker's traceback; the CLI keeps only its message.
    import torch

    from spikebits.search.cli import user_message
    from spikebits.space import DataError

    loader = torch.utils.data.DataLoader(_Damaged(), batch_size=2, num_workers=1)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert "Traceback" in str(caught.value)  # what torch makes of it
    assert user_message(caught.value) == "events in sample-0.bin have x = -3, outside the sensor's 0..33; replace or remove it"
