"""Reading what a user hands in and writing outputs without damage, shared by every package
that reads or writes a file (configs, run outputs, caches, checkpoints, exported models).

* Inputs (:func:`read_input_bytes`, :func:`read_input_text`): regular files only (a folder, a
  device or a pipe is refused before it is read: ``/dev/zero`` never ends), at most
  :data:`MAX_INPUT_BYTES`, text in UTF-8; every failure is one :class:`ConfigError` line.
* Single outputs (:func:`atomic_path`, :func:`atomic_write_bytes`): the file is written to a
  temporary file in the same folder, flushed to disk (fsync), and the temporary file is renamed
  over the target (``os.replace``). A reader sees either the old file or the new one, never half
  of one; when writing fails the temporary file is removed and an existing file at the target
  is left untouched. Only a new path or an existing regular file is written: a device, a folder or a
  symbolic link at the target is refused (:func:`check_output_file`), so ``--out /dev/null``
  run as root cannot replace the device with a file.
* A run's output files (:class:`StagedOutputs`): written into a staging folder inside the
  output folder, then moved in together with SIGINT and SIGTERM held back, so a failed or
  interrupted run never leaves a mix of old and new files.
* One run per output folder (:func:`lock_folder`): :class:`filelock.FileLock`, an advisory
  lock (``flock``) that the operating system drops when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from spikebits.space.errors import ConfigError, OutputError, one_line

#: Largest input file read (configs, spaces, presets, checkpoints are far smaller).
MAX_INPUT_BYTES = 1 << 30
#: Name of the lock file inside an output folder.
LOCK_NAME = ".spikebits.lock"
#: What a run's output files end in; an earlier run's stale files are removed only if they do.
OUTPUT_SUFFIXES = (".json", ".csv", ".png", ".md")
#: The networks a supernet strategy hands on (``network-{trial}.pt`` / ``.sbq``): a run's own files too.
NETWORK_FILES = r"network-\d+\.(pt|sbq)"

#: Largest ``run.json`` whose list of files is read (the list of a run's files is short).
MAX_RUN_FILE_BYTES = 64 << 20

#: Permissions of a newly created file (an existing file keeps its own).
NEW_FILE_MODE = 0o644
#: What the one-line error of a failed write tells the user to do, by default.
WRITE_HINT = "choose an output folder you can write to"


def fsync_dir(folder: Path) -> None:
    """Best effort: make a rename inside ``folder`` durable (not possible on every file system)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, what: str | None = None, hint: str = WRITE_HINT) -> Iterator[Path]:
    """A temporary file next to ``path`` for the block to write, by name (for writers such as
    h5py that open the file themselves); when the block ends without an exception the file is
    flushed to disk (fsync) and renamed over ``path`` (``os.replace``).

    ``path`` is checked first (:func:`check_output_file`) and its folder created when missing;
    the new file gets the permissions of the file it replaces, else :data:`NEW_FILE_MODE`. On any
    failure, in the block or after it, the temporary file is removed, an existing file at
    ``path`` keeps its old content, and an ``OSError`` becomes :class:`OutputError` ``"cannot
    write WHAT (reason); HINT"`` (``what`` defaults to the path).
    """
    path = Path(path)
    folder = path.parent

    def error(err: OSError) -> OutputError:
        return OutputError(f"cannot write {what or path} ({err.strerror or one_line(err)}); {hint}")

    check_output_file(path, what or str(path), hint)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else NEW_FILE_MODE
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise error(err) from None
    try:
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        yield Path(tmp_name)
        fd = os.open(tmp_name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(err, OSError):
            raise error(err) from None
        raise
    fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str | None = None, hint: str = WRITE_HINT) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`: temp file in the same folder,
    fsync, os.replace; a failure is a one-line :class:`OutputError`, the old file untouched)."""
    with atomic_path(path, what=what, hint=hint) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, what: str | None = None, hint: str = WRITE_HINT) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), what=what, hint=hint)


# ---------------------------------------------------------------------------- inputs
def file_kind(mode: int) -> str:
    """What a file of status mode ``mode`` is, in words for a message: "a folder", "a device",
    "a pipe", "a socket", else "not a regular file"."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_input_bytes(path: str | os.PathLike[str], what: str, *, hint: str = "check the path", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (``what`` names it in messages: "config file").

    Missing, a folder, a device, a pipe, unreadable or larger than ``limit``: a one-line
    :class:`ConfigError` ending in ``hint``."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist; {hint}") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path} ({err.strerror or type(err).__name__}); {hint}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is {file_kind(info.st_mode)}, not a file; {hint}")
    if info.st_size > limit:
        raise ConfigError(f"{what} {path} is {info.st_size} bytes, more than the {limit}-byte limit; {hint}")
    try:  # without blocking, checked again once open: a pipe put there after the check cannot block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{what} {path} is {file_kind(mode)}, not a file; {hint}")
            os.set_blocking(fd, True)
            data = handle.read(limit + 1)
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path} ({err.strerror or type(err).__name__}); {hint}") from None
    if len(data) > limit:
        raise ConfigError(f"{what} {path} is larger than the {limit}-byte limit; {hint}")
    return data


def read_input_text(path: str | os.PathLike[str], what: str, *, hint: str = "check the path", limit: int = MAX_INPUT_BYTES) -> str:
    """:func:`read_input_bytes` decoded as UTF-8 (other bytes: a one-line :class:`ConfigError`)."""
    data = read_input_bytes(path, what, hint=hint, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {err.start}); {hint}") from None


# ---------------------------------------------------------------------------- outputs
def check_output_file(path: str | os.PathLike[str], what: str | None = None, hint: str = "choose another path") -> Path:
    """``path`` may be written: it is new or an existing regular file (not a symbolic link, a
    folder or a device), and its folder is a folder or does not exist yet. Else a one-line
    :class:`OutputError`; nothing is created."""
    path = Path(path)
    what = what or str(path)
    try:
        info = path.lstat()
    except (FileNotFoundError, NotADirectoryError):  # the latter: a parent is a file, said below
        info = None
    except OSError as err:
        raise OutputError(f"cannot write {what} ({err.strerror or type(err).__name__}); {hint}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"{what} is a symbolic link; give the path of a regular file (or a new one) instead")
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{what} is {file_kind(info.st_mode)}; give the path of a regular file (or a new one) instead")
    parent = nearest_existing_parent(path)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"cannot write {what}: {parent} is not a folder; {hint}")
    return path


def nearest_existing_parent(path: Path) -> Path | None:
    """The closest folder above ``path`` that exists (it may be a file: the callers say so)."""
    return next((parent for parent in path.parents if parent.exists()), None)


def check_folder_path(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` may become a folder: it is one, or nothing is there yet and its nearest existing
    parent is a folder. Else a one-line :class:`OutputError`; nothing is created."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise OutputError(f"cannot use {what} {path} ({err.strerror or type(err).__name__}); choose a folder") from None
    if info is not None:
        if not stat.S_ISDIR(info.st_mode):
            kind = "a file" if stat.S_ISREG(info.st_mode) else file_kind(info.st_mode)
            raise OutputError(f"{what} {path} is {kind}, not a folder; choose a folder")
        return path
    parent = nearest_existing_parent(path)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"{what} {path} is inside {parent}, which is not a folder; choose a folder")
    return path


def check_output_folder(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Create the folder ``path`` if needed and prove it writable now, before any work."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        info = None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        kind = "a file" if stat.S_ISREG(info.st_mode) else file_kind(info.st_mode)
        raise OutputError(f"{what} {path} is {kind}, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".spikebits-probe-")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"{what} {path} is inside a file, not a folder; choose a folder") from None
    except OSError as err:
        raise OutputError(f"cannot write to {what} {path} ({err.strerror}); choose a folder you can write to") from None
    return path


def _write_pid(fd: int) -> None:
    """Write this process's pid into a lock file it has just locked (for the refusal's message);
    never into a file with another name as well (a hard link), which would be overwritten."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def check_lock_file(path: Path, what: str, folder: str | os.PathLike[str]) -> None:
    """What is at the lock file's path may be locked: nothing yet, or a regular file with no
    other name. A symbolic link, a hard link, a pipe, a folder or a device there is refused in
    one line (locking would open, and could block on or write through, something else)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as err:
        raise OutputError(f"cannot lock {what} {folder} ({err.strerror or one_line(err)}); choose a folder you can write to") from None
    if stat.S_ISLNK(info.st_mode):
        kind = "a symbolic link"
    elif not stat.S_ISREG(info.st_mode):
        kind = file_kind(info.st_mode)
    elif info.st_nlink > 1:
        kind = f"a file with {info.st_nlink} names (a hard link)"
    else:
        return
    raise OutputError(f"{path} is {kind}, not spikebits' lock file; remove it (or choose another {what})")


def _holder_pid(path: Path) -> str:
    """The pid that the holder of the lock file ``path`` wrote into it, or ``?``."""
    try:
        with open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK | os.O_NOFOLLOW)) as handle:
            return handle.read(32).decode("ascii", "replace").strip() or "?"
    except OSError:
        return "?"


class FolderLock:
    """An exclusive lock on an output folder (``LOCK_NAME`` inside it), held until
    :meth:`release` or the end of the process: a :class:`filelock.FileLock` taken without
    waiting, one per folder in a process and re-entrant there (it counts its holds). A second
    process asking for it gets a one-line :class:`OutputError` naming the holder's pid."""

    def __init__(self, folder: str | os.PathLike[str], what: str = "--out") -> None:
        self.path = Path(folder) / LOCK_NAME
        if not self.path.parent.is_dir():  # filelock would create it
            raise OutputError(f"cannot lock {what} {folder} (no such folder); choose a folder you can write to")
        check_lock_file(self.path, what, folder)
        self._lock = FileLock(
            self.path, timeout=0, mode=NEW_FILE_MODE, thread_local=False, is_singleton=True, on_acquired=_write_pid
        )
        try:
            self._lock.acquire(blocking=False)
        except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
            raise OutputError(
                f"another spikebits run (pid {_holder_pid(self.path)}) is writing to {what} {folder}; "
                f"wait for it to end or choose another {what}"
            ) from None
        except OSError as err:
            raise OutputError(f"cannot lock {what} {folder} ({err.strerror or one_line(err)}); choose a folder you can write to") from None
        self.held = True

    def release(self) -> None:
        """Give up this hold (a second call does nothing); the lock goes with the last one."""
        if self.held:
            self.held = False
            self._lock.release()

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_folder(folder: str | os.PathLike[str], what: str = "--out") -> FolderLock:
    """:class:`FolderLock` on ``folder`` (which must exist)."""
    return FolderLock(folder, what)


def run_files(folder: str | os.PathLike[str], run_file: str = "run.json") -> list[str]:
    """The output files that the run in ``folder`` lists in its ``run_file`` (``"files"``):
    only what a run writes (figures, JSON, tables, its handed-on networks), never a study, a
    checkpoint, a hidden file or a path outside the folder; [] when it lists none."""
    path = Path(folder) / run_file
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RUN_FILE_BYTES:
            return []
        with open(path, "rb") as handle:
            files = json.load(handle).get("files", [])
    except (OSError, ValueError, AttributeError, RecursionError):
        return []
    if not isinstance(files, list):
        return []
    return [
        f for f in files
        if isinstance(f, str) and f == Path(f).name and not f.startswith(".")
        and (f.endswith(OUTPUT_SUFFIXES) or re.fullmatch(NETWORK_FILES, f))
    ]


def remove_run_files(folder: str | os.PathLike[str], run_file: str = "run.json") -> None:
    """Remove the output files of the run in ``folder`` (:func:`run_files`), ``run_file`` last."""
    folder = Path(folder)
    for name in [*run_files(folder, run_file), run_file]:
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()


class StagedOutputs:
    """A run's output files, replaced together.

    ``with StagedOutputs(folder) as staging:`` (with ``folder`` locked, :func:`lock_folder`)
    write every file into ``staging.path`` (a fresh hidden folder inside ``folder``; one left
    by a run that was killed is removed first); when the block ends without an exception the
    files are moved into ``folder`` (``os.replace``, ``run_file`` last) with SIGINT and SIGTERM
    held back, and the files an earlier run listed in its ``run_file`` (``"files"``) that this
    run did not write are removed, so the folder holds one run's files. When the block
    raises, ``folder`` is left exactly as it was. ``staging.path`` is removed either way.
    """

    def __init__(self, folder: str | os.PathLike[str], run_file: str = "run.json") -> None:
        self.folder = Path(folder)
        self.run_file = run_file
        # Left by a run killed while it wrote (the folder is locked: no other writer is live).
        for stale in self.folder.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.path = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.folder))
        self.moved: list[Path] = []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def names(self) -> list[str]:
        """The staged files' names, ``run_file`` last."""
        names = sorted(p.name for p in self.path.iterdir() if p.is_file())
        if self.run_file in names:
            names.remove(self.run_file)
            names.append(self.run_file)
        return names

    def commit(self) -> list[Path]:
        names = self.names()
        for name in names:  # refuse before moving anything
            check_output_file(self.folder / name, str(self.folder / name))
        stale = [n for n in run_files(self.folder, self.run_file) if n not in names and (self.folder / n).is_file()]
        with _signals_held():
            for name in names:
                os.replace(self.path / name, self.folder / name)
                self.moved.append(self.folder / name)
            for name in stale:
                try:
                    (self.folder / name).unlink()
                except OSError:
                    pass
            fsync_dir(self.folder)
        return self.moved


class _signals_held:
    """Hold SIGINT and SIGTERM back for the block (main thread only; elsewhere a no-op)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.SIGNALS)

