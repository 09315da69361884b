"""``--storage`` is checked when it is opened: every bad one is a one-line ConfigError that
names it and says what to do; good ones open and hold a study."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sqlite3
from pathlib import Path

import optuna
import pytest

from spikebits.search import study_storage
from spikebits.search.study_storage import open_storage
from spikebits.space import ConfigError

ROOT = os.geteuid() == 0
needs_permissions = pytest.mark.skipif(ROOT, reason="runs as root, whom file permissions do not stop from writing")


def optuna_journal(path: Path) -> Path:
    """A journal written by Optuna, holding study "s" with one finished trial."""
    study = optuna.create_study(storage=open_storage(str(path)), study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return path


def optuna_sqlite(path: Path) -> Path:
    study = optuna.create_study(storage=open_storage(f"sqlite:///{path}"), study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return path


# Each case: (storage string, or a function of tmp_path that prepares the file and returns it;
# words the message must hold).
def _garbage(name: str, data: bytes):
    def make(tmp: Path) -> str:
        (tmp / name).write_bytes(data)
        return str(tmp / name)
    return make


def _sqlite_url(make):
    return lambda tmp: "sqlite:///" + make(tmp)


def _directory(tmp: Path) -> str:
    (tmp / "folder").mkdir()
    return str(tmp / "folder")


def _truncated_sqlite(tmp: Path) -> str:
    data = optuna_sqlite(tmp / "good.db").read_bytes()
    (tmp / "cut.db").write_bytes(data[:4096])
    return str(tmp / "cut.db")


def _foreign_sqlite(tmp: Path) -> str:
    con = sqlite3.connect(tmp / "other.db")
    con.execute("CREATE TABLE results (x)")
    con.commit()
    con.close()
    return str(tmp / "other.db")


def _cut_journal(tmp: Path) -> str:
    data = optuna_journal(tmp / "good.log").read_bytes()
    (tmp / "cut.log").write_bytes(data[: len(data) - 7])
    return str(tmp / "cut.log")


def _unreplayable_journal(tmp: Path) -> str:
    (tmp / "odd.log").write_text('{"op_code": 99, "worker_id": "w"}\n')
    return str(tmp / "odd.log")


def _symlink_to(target: str):
    def make(tmp: Path) -> str:
        os.symlink(target, tmp / "link.log")
        return str(tmp / "link.log")
    return make


def _sqlite_as_journal(tmp: Path) -> str:
    return str(optuna_sqlite(tmp / "study.db"))


BAD = {
    "sqlite folder missing": (lambda tmp: f"sqlite:///{tmp}/nope/s.db", ["nope", "does not exist"]),
    "sqlite directory": (_sqlite_url(_directory), ["folder", "is a directory", "study.db"]),
    "sqlite garbage": (_sqlite_url(_garbage("g.db", b"\x00garbage\xff bytes" * 20)), ["g.db", "is not an sqlite database"]),
    "sqlite short garbage": (_sqlite_url(_garbage("s.db", b"SQL")), ["s.db", "is not an sqlite database"]),
    "sqlite truncated": (_sqlite_url(_truncated_sqlite), ["cut.db", "damaged"]),
    "sqlite of another program": (_sqlite_url(_foreign_sqlite), ["other.db", "no Optuna tables"]),
    "sqlite device": (lambda tmp: "sqlite:////dev/null", ["/dev/null", "not a regular file"]),
    "unknown scheme": (lambda tmp: "nosuch://x", ["'nosuch://x'", "unknown scheme", "sqlite:///FILE.db", "journal:///PATH"]),
    "http URL": (lambda tmp: "http://example.com/study", ["unknown scheme 'http'", "sqlite:///FILE.db"]),
    "URL missing slashes": (lambda tmp: "sqlite:/study.db", ["sqlite:/study.db", "without its '//'"]),
    "empty": (lambda tmp: "", ["empty", "sqlite:///FILE.db"]),
    "journal folder missing": (lambda tmp: f"{tmp}/nope/s.log", ["nope", "does not exist"]),
    "journal directory": (_directory, ["folder", "is a directory", "study.log"]),
    "journal URL directory": (lambda tmp: "journal://" + _directory(tmp), ["folder", "is a directory"]),
    "journal text garbage": (_garbage("t.log", b"hello\nworld\n"), ["t.log", "is not an Optuna journal", "line 1"]),
    "journal binary garbage": (_garbage("b.log", bytes(range(256)) * 4), ["b.log", "is not an Optuna journal"]),
    "journal JSON of another shape": (_garbage("j.log", b'{"op_code": 0}\n[1, 2]\n'), ["j.log", "is not an Optuna journal", "line 2"]),
    "journal without newline": (_garbage("n.log", b"no newline at all"), ["n.log", "is not an Optuna journal"]),
    "journal cut off": (_cut_journal, ["cut.log", "cut-off line", "remove that last line"]),
    "journal Optuna cannot replay": (_unreplayable_journal, ["odd.log", "AssertionError", "new file name"]),
    "journal is an sqlite file": (_sqlite_as_journal, ["study.db", "sqlite:///"]),
    "/dev/null": (lambda tmp: "/dev/null", ["/dev/null", "not a regular file"]),
    "/dev/zero": (lambda tmp: "journal:///dev/zero", ["/dev/zero", "not a regular file"]),
    "symlink to a device": (_symlink_to("/dev/zero"), ["link.log", "not a regular file"]),
    "broken symlink": (_symlink_to("/nonexistent/x.log"), ["link.log", "broken symbolic link"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_storage_is_one_line_config_error(case, tmp_path):
    make, words = BAD[case]
    storage = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        open_storage(storage)
    message = str(err.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="the MySQL driver is installed here")
def test_url_without_its_driver_names_it_and_hides_the_password():
    with pytest.raises(ConfigError) as err:
        open_storage("mysql://user:secret@localhost/db")
    message = str(err.value)
    assert "\n" not in message and "MySQLdb" in message and "not installed" in message and "sqlite:///FILE.db" in message
    assert "secret" not in message


def test_any_other_error_is_one_line_with_its_type(tmp_path, monkeypatch):
    def broken(url, **kwargs):
        raise RuntimeError("first line\nsecond line of a long story")

    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(ConfigError) as err:
        open_storage(f"sqlite:///{tmp_path}/s.db")
    message = str(err.value)
    assert "\n" not in message and "RuntimeError" in message and "s.db" in message


# --------------------------------------------------------------------------- read-only
@needs_permissions
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_read_only_file_is_one_line(kind, tmp_path):
    path = optuna_sqlite(tmp_path / "s.db") if kind == "sqlite" else optuna_journal(tmp_path / "s.log")
    path.chmod(0o444)
    storage = f"sqlite:///{path}" if kind == "sqlite" else str(path)
    with pytest.raises(ConfigError) as err:
        open_storage(storage)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "writable" in message


@needs_permissions
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
@pytest.mark.parametrize("existing", [False, True])
def test_read_only_folder_is_one_line(kind, existing, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / ("s.db" if kind == "sqlite" else "s.log")
    if existing:
        optuna_sqlite(path) if kind == "sqlite" else optuna_journal(path)
    folder.chmod(0o555)
    try:
        with pytest.raises(ConfigError) as err:
            open_storage(f"sqlite:///{path}" if kind == "sqlite" else str(path))
    finally:
        folder.chmod(0o755)
    message = str(err.value)
    assert "\n" not in message and str(folder) in message and "writable" in message


# --------------------------------------------------------------------------- good storages
def _trials(storage: str) -> int:
    study = optuna.create_study(storage=open_storage(storage), study_name="s", load_if_exists=True)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return len(study.trials)


def test_none_is_in_memory():
    assert open_storage(None) is None


@pytest.mark.parametrize(
    "form", ["sqlite:///{}/s.db", "{}/s.log", "journal://{}/s.log", "{}/new/../s.log"],
    ids=["sqlite", "journal path", "journal URL", "journal path with .."],
)
def test_new_then_existing_storage_holds_the_study(form, tmp_path):
    if "new" in form:
        (tmp_path / "new").mkdir()
    storage = form.format(tmp_path)
    assert isinstance(open_storage(storage), optuna.storages.RDBStorage if storage.startswith("sqlite") else optuna.storages.JournalStorage)
    assert _trials(storage) == 1  # a new file
    assert _trials(storage) == 2  # the same study, loaded again
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".spikebits-probe")]


def test_empty_files_are_new_storages(tmp_path):
    (tmp_path / "e.db").touch()
    (tmp_path / "e.log").touch()
    assert _trials(f"sqlite:///{tmp_path}/e.db") == 1
    assert _trials(str(tmp_path / "e.log")) == 1


# --------------------------------------------------------------------------- two processes at once
def _open_and_create(storage: str, barrier, results) -> None:
    barrier.wait()
    try:
        study = optuna.create_study(storage=open_storage(storage), study_name="s", load_if_exists=True)
        results.put(("ok", study.study_name))
    except Exception as err:  # noqa: BLE001  (the parent reports what went wrong)
        results.put((type(err).__name__, str(err)))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_processes_creating_the_same_new_storage_at_once(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(study_storage, "SQLITE_TIMEOUT", 20.0)
    context = multiprocessing.get_context("fork")
    processes = 3
    for repeat in range(3):
        storage = f"sqlite:///{tmp_path}/race{repeat}.db" if kind == "sqlite" else f"{tmp_path}/race{repeat}.log"
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [context.Process(target=_open_and_create, args=(storage, barrier, results)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert outcomes == [("ok", "s")] * processes, outcomes
        assert [w.exitcode for w in workers] == [0] * processes
        assert len(optuna.get_all_study_summaries(open_storage(storage))) == 1
