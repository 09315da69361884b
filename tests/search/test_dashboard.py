"""optuna-dashboard on a spikebits study: every trial carries its config, metrics and
feasibility as user attributes, and every front trial its allocation plot as an Optuna
artifact in the folder beside the storage (attached when the trial is told, to each trial on
the front of those finished so far). The README's command (``optuna-dashboard STORAGE
--artifact-dir FOLDER``) is started on loopback and the trials are read back over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from spikebits.results import pareto_front
from spikebits.search import run_search
from spikebits.search.study_storage import artifact_dir, storage_file
from spikebits.space import Budget

sys.path.insert(0, str(Path(__file__).parent))
from test_search import FakeEvaluator  # noqa: E402

pytest.importorskip("optuna_dashboard")


def test_artifact_dir_is_beside_the_storage_file(tmp_path):
    assert storage_file(str(tmp_path / "study.journal")) == tmp_path / "study.journal"
    assert storage_file(f"journal://{tmp_path}/s.log") == tmp_path / "s.log"
    assert storage_file(f"sqlite:///{tmp_path}/study.db") == tmp_path / "study.db"
    assert artifact_dir(f"sqlite:///{tmp_path}/study.db") == tmp_path / "study.artifacts"
    assert artifact_dir(str(tmp_path / "study.journal")) == tmp_path / "study.artifacts"
    assert storage_file("sqlite:///:memory:") is None and storage_file("postgresql://db.example/x") is None
    assert artifact_dir(None) is None


def _search(tmp_path: Path):  # noqa: ANN202 - (result, storage path)
    journal = tmp_path / "study.journal"
    result = run_search(
        "nsga2", FakeEvaluator(), budget=Budget.parse("bit_budget<=3"), objectives=("accuracy", "bit_budget"),
        n_trials=10, seed=0, storage=str(journal),
    )
    return result, journal


def test_trials_carry_config_metrics_feasibility_and_the_front_its_plots(tmp_path):
    import optuna
    from optuna.artifacts import get_all_artifact_meta

    from spikebits.search.study_storage import open_storage

    result, journal = _search(tmp_path)
    storage = open_storage(str(journal))
    study = optuna.load_study(study_name="spikebits-nsga2", storage=storage)
    by_number = {r.number: r for r in result.records}
    for trial in study.trials:
        record = by_number[trial.number]
        attrs = trial.user_attrs
        assert attrs["config_short"] == FakeEvaluator().space.complete(record.config).short()
        assert attrs["config"]["a"] == record.config["a"].to_dict()
        assert attrs["feasible"] == (record.feasible if record.state == "COMPLETE" else False)
        assert attrs["metrics"]["bit_budget"] == record.metrics["bit_budget"]
    front = sorted(r.number for r in result.front)
    assert front and study.user_attrs["pareto_front"] == front
    # A trial has its plot exactly when it was on the front of the trials told before it
    # (one process, told in number order): so every final front trial has one.
    folder = tmp_path / "study.artifacts"
    told = sorted((r for r in result.records if r.state == "COMPLETE"), key=lambda r: r.number)
    plotted = set()
    for trial in study.trials:
        metas = get_all_artifact_meta(trial, storage=storage)
        record = by_number[trial.number]
        earlier = [r for r in told if r.number <= trial.number]
        expected = record.state == "COMPLETE" and any(r is record for r in pareto_front(earlier, ("accuracy", "bit_budget")))
        if expected:
            assert [m.filename for m in metas] == ["allocation.png"] and metas[0].mimetype == "image/png"
            assert (folder / metas[0].artifact_id).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            plotted.add(trial.number)
        else:
            assert metas == []
    assert set(front) <= plotted
    # a resumed search keeps the plots it has and draws none twice
    files = sorted(p.name for p in folder.iterdir())
    run_search(
        "nsga2", FakeEvaluator(), budget=Budget.parse("bit_budget<=3"), objectives=("accuracy", "bit_budget"),
        n_trials=10, seed=0, storage=str(journal),
    )
    assert sorted(p.name for p in folder.iterdir()) == files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):  # noqa: ANN202 - (status, bytes)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, response.read()


@pytest.mark.slow
def test_the_dashboard_serves_the_study_over_http(tmp_path):
    result, journal = _search(tmp_path)
    port = _free_port()
    command = [os.path.join(os.path.dirname(sys.executable), "optuna-dashboard"), str(journal),
               "--host", "127.0.0.1", "--port", str(port), "--artifact-dir", str(tmp_path / "study.artifacts"), "--quiet"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/api/meta")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:] if server.stderr else "dashboard ended"
            assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.2)
        studies = json.loads(_get(f"{base}/api/studies")[1])["study_summaries"]
        assert [s["study_name"] for s in studies] == ["spikebits-nsga2"]
        detail = json.loads(_get(f"{base}/api/studies/{studies[0]['study_id']}")[1])
        trials = {t["number"]: t for t in detail["trials"]}
        assert set(trials) == {r.number for r in result.records}
        for record in result.records:
            attrs = {a["key"]: a["value"] for a in trials[record.number]["user_attrs"]}
            assert attrs["config_short"] == FakeEvaluator().space.complete(record.config).short()
            assert json.loads(attrs["metrics"])["bit_budget"] == record.metrics["bit_budget"]
        # Infeasible trials are marked: each finished trial's constraint list (value − limit)
        # is what the dashboard reads; a config skipped for its budget shows an accuracy of
        # -inf (never measured), and the objectives carry their names.
        scored = [r for r in result.records if r.state in ("COMPLETE", "SKIPPED")]
        assert any(r.state == "SKIPPED" for r in scored) and any(r.feasible for r in scored)
        for record in scored:
            trial = trials[record.number]
            assert trial["constraints"] == [pytest.approx(record.metrics["bit_budget"] - 3)]
            assert (trial["constraints"][0] > 0) == (not record.feasible)
            assert (trial["values"][0] == "-inf") == (record.state == "SKIPPED")
        assert detail["objective_names"] == ["accuracy", "bit_budget"]
        study_attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
        assert json.loads(study_attrs["pareto_front"]) == sorted(r.number for r in result.front)
        for number in json.loads(study_attrs["pareto_front"]):
            trial = trials[number]
            (artifact,) = trial["artifacts"]
            assert artifact["filename"] == "allocation.png"
            status, body = _get(f"{base}/artifacts/{studies[0]['study_id']}/{trial['trial_id']}/{artifact['artifact_id']}")
            assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the process group this test started, by its id
        server.wait(timeout=30)
