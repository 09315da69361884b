"""Atomic file writes, shared by every package that writes a file (run outputs, caches,
checkpoints, exported models).

The bytes go to a temporary file in the same folder, are flushed to disk (fsync), and the
temporary file is renamed over the target (``os.replace``). A reader sees either the old
file or the new one, never half of one; when writing fails the temporary file is removed
and an existing file at the target is left untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from spikebits.space.errors import OutputError

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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str | None = None, hint: str = WRITE_HINT) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, os.replace).

    The folder is created when missing. On any failure the temporary file is removed, an
    existing file at ``path`` keeps its old content, and an ``OSError`` becomes
    :class:`OutputError` ``"cannot write WHAT (reason); HINT"`` (``what`` defaults to the path).
    """
    path = Path(path)
    folder = path.parent

    def error(err: OSError) -> OutputError:
        return OutputError(f"cannot write {what or path} ({err.strerror or type(err).__name__}); {hint}")

    try:
        folder.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else NEW_FILE_MODE
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise error(err) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException as err:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):
            raise error(err) from None
        raise
    fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, what: str | None = None, hint: str = WRITE_HINT) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), what=what, hint=hint)
