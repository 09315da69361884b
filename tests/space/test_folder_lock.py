"""The output folder's lock (issue 29): it never writes through a link, never blocks on a
special file, and a lock left by a killed process is taken over at once, whatever the form
of --out; a full disk is one line."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikebits.search.cli import main
from spikebits.space import OutputError, lock_folder
from spikebits.space.files import LOCK_NAME


def test_a_hard_link_at_the_lock_path_is_refused_and_the_linked_file_keeps_its_bytes(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("do not truncate me\n")
    (tmp_path / "out").mkdir()
    os.link(precious, tmp_path / "out" / LOCK_NAME)
    with pytest.raises(OutputError, match=r"a file with 2 names \(a hard link\), not spikebits' lock file; remove it"):
        lock_folder(tmp_path / "out")
    assert precious.read_text() == "do not truncate me\n"


@pytest.mark.parametrize("make, kind", [
    (lambda path: os.mkfifo(path), "a pipe"),
    (lambda path: path.symlink_to(path.parent.parent / "elsewhere"), "a symbolic link"),
    (lambda path: path.mkdir(), "a folder"),
])
def test_a_special_file_at_the_lock_path_is_one_line_at_once(tmp_path, make, kind):
    (tmp_path / "out").mkdir()
    make(tmp_path / "out" / LOCK_NAME)
    start = time.monotonic()
    with pytest.raises(OutputError, match=f"is {kind}, not spikebits' lock file"):
        lock_folder(tmp_path / "out")
    assert time.monotonic() - start < 5
    assert not (tmp_path / "elsewhere").exists()


def test_the_cli_refuses_a_pipe_at_the_lock_path_in_one_line(capsys, tmp_path):
    (tmp_path / "out").mkdir()
    os.mkfifo(tmp_path / "out" / LOCK_NAME)
    assert main(["search", "--trials", "1", "--epochs", "0", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a pipe, not spikebits' lock file" in err, err


def test_a_lock_left_by_a_killed_process_is_taken_over_at_once_with_a_relative_out(tmp_path, monkeypatch):
    # Issue 29: after kill -9, the same command with a relative --out spun forever.
    code = "import sys; from spikebits.space import lock_folder; held = lock_folder('out'); print('locked', flush=True); sys.stdin.read()"
    (tmp_path / "out").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        monkeypatch.chdir(tmp_path)
        with pytest.raises(OutputError, match=f"another spikebits run \\(pid {holder.pid}\\)"):
            lock_folder("out")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (tmp_path / "out" / LOCK_NAME).exists()  # left behind
    start = time.monotonic()
    with lock_folder("out"), lock_folder(Path("out").resolve()), lock_folder("./out/"):  # every form of the path
        assert (tmp_path / "out" / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert time.monotonic() - start < 5


def test_a_full_disk_is_one_line(capsys, tmp_path, monkeypatch):
    import spikebits.search.runner as runner

    def no_room(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "trials.csv"))

    monkeypatch.setattr(runner, "publish_run", no_room)
    code = main(["search", "--strategy", "random", "--trials", "1", "--epochs", "0", "--pretrain-epochs", "1", "--quiet",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "no room left on the disk writing" in err and "No space left on device" in err, err
