"""``--hessian-network quantized`` on the command line reaches the sensitivity report: through
``search --strategy ilp`` and ``spikebits sensitivity`` (digits_cnn pretrained one epoch, a
small space, its own cache)."""

from __future__ import annotations

import json

import pytest

from spikebits.models import build, default_space
from spikebits.space import LayerOptions

from cli_run import run_main


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory):
    """(cache folder, common flags): a space of W 2/4, S 1/2, T 1/2, uniform only."""
    folder = tmp_path_factory.mktemp("hessian-network")
    options = LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform",))
    space = folder / "space.json"
    space.write_text(default_space(build("digits_cnn"), options).to_json())
    cache = folder / "cache"
    flags = ("--space", str(space), "--pretrain-epochs", "1", "--cache-dir", str(cache), "--quiet")
    return cache, flags


def _reports(cache) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cache.glob("*-sensitivity-*.json"))]


def test_ilp_hessian_network_quantized_reaches_the_report(capsys, tmp_path, shrunk):
    cache, flags = shrunk
    out = tmp_path / "ilp"
    code, _, err = run_main(
        capsys, "search", "--strategy", "ilp", "--hessian-network", "quantized", "--probes", "2",
        "--budget", "bit_budget<=4", "--trials", "2", "--epochs", "0", "--out", str(out), *flags,
    )
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    assert run["strategy"]["hessian_network"] == "quantized"
    measured = [r["settings"] for r in _reports(cache) if r["settings"]["probes"] == 2]
    assert len(measured) == 1 and measured[0]["network"] == "quantized"


def test_sensitivity_command_takes_the_hessian_network(capsys, tmp_path, shrunk):
    cache, flags = shrunk
    out = tmp_path / "sens"
    code, stdout, err = run_main(
        capsys, "sensitivity", "--hessian-network", "quantized", "--probes", "11", "--batches", "1", "--out", str(out), *flags
    )
    assert code == 0, err
    assert "on the quantized network" in stdout
    assert json.loads((out / "sensitivity.json").read_text())["settings"]["network"] == "quantized"
    assert [r["settings"]["network"] for r in _reports(cache) if r["settings"]["probes"] == 11] == ["quantized"]
    code, _, err = run_main(capsys, "sensitivity", "--hessian-network", "int8", "--out", str(tmp_path / "x"), *flags)
    assert code == 2 and "invalid choice: 'int8'" in err and err.count("\n") == 1
