"""Opening an Optuna storage given by the user (``--storage``), checked before any work.

Three forms are accepted:

* ``sqlite:///FILE.db`` (an RDB URL; other SQLAlchemy URLs such as ``postgresql://...`` are
  passed on when their driver is installed);
* ``journal:///PATH`` or ``journal://PATH``;
* a plain path, taken as an Optuna journal file.

Everything a user can get wrong is a one-line :class:`~spikebits.space.ConfigError` that names
the storage and says what to do, raised when the storage is opened rather than at the first
trial: a missing folder, a directory or a device where a file belongs, a file that is not an
sqlite database or not an Optuna journal, a read-only file or folder, a URL of an unknown
scheme or without its driver. Two processes that create the same new sqlite file at the same
moment both open it (creating Optuna's tables races; the loser retries).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import optuna

from spikebits.space import ConfigError, one_line

#: What ``--storage`` accepts, for the error messages.
SUPPORTED = "use sqlite:///FILE.db, journal:///PATH or a plain journal file path"
#: The first 16 bytes of every sqlite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds the write probe waits for another process's lock on an sqlite file.
SQLITE_TIMEOUT = 60.0
#: Seconds to retry creating Optuna's tables while other processes create them at the same moment.
CREATE_WINDOW = 30.0
#: How an Optuna journal line starts (JournalStorage writes ``{"op_code": ..., ...}``).
_JOURNAL_LINE_START = b'{"op_code"'
#: Reads of a journal whose last line lacks its newline before it is called cut off.
JOURNAL_RECHECKS = 3
#: Tables of an Optuna database (one is enough: another process may be creating the rest).
_OPTUNA_TABLES = {
    "alembic_version", "studies", "study_directions", "study_system_attributes", "study_user_attributes", "trial_heartbeats",
    "trial_intermediate_values", "trial_params", "trial_system_attributes", "trial_user_attributes", "trial_values", "trials",
    "version_info",
}


def _reason(err: BaseException, limit: int = 160) -> str:
    """``err`` on one line, ``TypeName: text`` (:func:`space.one_line`), its text cut at a
    word boundary when longer than ``limit``."""
    text = one_line(str(err))
    if len(text) <= limit:
        return one_line(err, with_type=True)
    return f"{type(err).__name__}: {text[:limit].rsplit(' ', 1)[0]} …"


def _os_reason(err: OSError) -> str:
    return err.strerror or _reason(err)


def _check_folder(folder: Path) -> None:
    """``folder`` exists, is a directory, and a file can be created in it."""
    if not folder.is_dir():
        state = "is not a directory" if folder.exists() else "does not exist"
        raise ConfigError(f"storage folder {folder} {state}; create it or choose another --storage")
    try:
        fd, probe = tempfile.mkstemp(prefix=".spikebits-probe-", dir=folder)
    except OSError as err:
        raise ConfigError(
            f"cannot create files in storage folder {folder} ({_os_reason(err)}); make it writable or choose another --storage"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _check_not_folder_name(raw: str, what: str) -> None:
    """A storage path written with a trailing slash names a folder (pathlib would drop the slash
    and make a file of that name)."""
    if raw.endswith(("/", os.sep)):
        example = Path(raw) / ("study.db" if "sqlite" in what else "study.log")
        raise ConfigError(f"storage {raw} ends in '/': it names a folder, not {what}; give a file path, e.g. {example}")


def _check_existing_file(path: Path, what: str) -> bool:
    """True when ``path`` exists; then it must be a regular, readable and writable file (a
    symbolic link to one is fine). False when nothing is there yet."""
    if not os.path.lexists(path):
        return False
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"storage {path} is a broken symbolic link; remove it or choose another --storage") from None
    except OSError as err:
        raise ConfigError(f"cannot read storage {path} ({_os_reason(err)}); choose another --storage") from None
    if stat.S_ISDIR(mode):
        example = path / ("study.db" if "sqlite" in what else "study.log")
        raise ConfigError(f"storage {path} is a directory, not {what}; give a file path inside it, e.g. {example}")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"storage {path} is not a regular file (a device, pipe or socket); give the path of {what}")
    try:
        with open(path, "r+b"):
            pass
    except OSError as err:
        raise ConfigError(f"storage {path} cannot be opened for writing ({_os_reason(err)}); make it writable or choose another --storage") from None
    return True


# --------------------------------------------------------------------------- sqlite / RDB
def _probe_sqlite(path: Path, shown: str) -> None:
    """Read the schema and write (then roll back) a table, so a damaged, read-only or locked
    database fails here, with one line, rather than inside Optuna."""
    try:
        con = sqlite3.connect(str(path), timeout=SQLITE_TIMEOUT, isolation_level=None)
    except sqlite3.Error as err:
        raise ConfigError(f"cannot open sqlite storage {shown} ({_reason(err)}); make the file and its folder writable or choose another --storage") from None
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and not tables & _OPTUNA_TABLES:
            raise ConfigError(
                f"storage {shown} is an sqlite database of something else (no Optuna tables); give a new file name or an Optuna sqlite file"
            )
        con.execute("BEGIN IMMEDIATE")
        con.execute("CREATE TABLE spikebits_write_probe (x INTEGER)")
        con.execute("ROLLBACK")
    except sqlite3.DatabaseError as err:
        text = str(err).lower()
        if "not a database" in text or "encrypted" in text:
            raise ConfigError(f"storage {shown} is not an sqlite database; give a new file name or an Optuna sqlite file") from None
        if "malformed" in text or "corrupt" in text:
            raise ConfigError(f"sqlite storage {shown} is damaged ({err}); restore it or choose another --storage") from None
        if "readonly" in text or "read-only" in text or "unable to open" in text or "disk i/o" in text:
            raise ConfigError(f"sqlite storage {shown} is read-only ({err}); make the file and its folder writable or choose another --storage") from None
        if "locked" in text or "busy" in text:
            raise ConfigError(f"sqlite storage {shown} stayed locked by another process for {SQLITE_TIMEOUT:.0f} s; retry later") from None
        raise ConfigError(f"cannot write sqlite storage {shown} ({_reason(err)}); choose another --storage") from None
    finally:
        con.close()


def _retrying_rdb(url: str, shown: str, sqlite: bool = False) -> optuna.storages.RDBStorage:
    """RDBStorage(url); creating the tables races when processes open the same new database
    at once, so a database error is retried, with growing random sleeps, for up to
    :data:`CREATE_WINDOW` seconds. An sqlite connection waits :data:`SQLITE_TIMEOUT` seconds
    for another process's lock (Python's default is 5), here and in every later trial."""
    import sqlalchemy.exc

    transient = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, optuna.exceptions.StorageInternalError)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if sqlite and "timeout=" not in url else {}
    deadline = time.monotonic() + CREATE_WINDOW
    attempt = 0
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except transient as err:
            attempt += 1
            if time.monotonic() > deadline:
                raise ConfigError(f"cannot open storage {shown} ({_reason(err)}); {SUPPORTED}") from None
            time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        except Exception as err:  # noqa: BLE001  (one line for whatever else Optuna or the driver raises)
            if isinstance(err, RuntimeError) and "compatible" in str(err):
                raise ConfigError(
                    f"storage {shown} was written by another Optuna version ({_reason(err, 120)}); "
                    "upgrade it with `optuna storage upgrade` or choose another --storage"
                ) from None
            raise ConfigError(f"cannot open storage {shown} ({_reason(err)}); {SUPPORTED}") from None


def _open_rdb(storage: str) -> optuna.storages.RDBStorage:
    import sqlalchemy
    import sqlalchemy.exc

    try:
        url = sqlalchemy.engine.make_url(storage)
    except Exception:  # noqa: BLE001  (ArgumentError, ValueError for a malformed URL)
        raise ConfigError(f"storage {storage!r} is not a valid URL; {SUPPORTED}") from None
    shown = repr(url.render_as_string(hide_password=True))
    scheme = url.drivername
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _check_not_folder_name(database, "an sqlite database file")
            path = Path(database).expanduser()
            if str(path) != database:
                url = url.set(database=str(path))
            exists = _check_existing_file(path, "an sqlite database file")
            _check_folder(path.parent)
            if exists and os.path.getsize(path) > 0:
                with open(path, "rb") as fh:
                    if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                        raise ConfigError(f"storage {path} is not an sqlite database; give a new file name or an Optuna sqlite file")
            _probe_sqlite(path, str(path))
            shown = str(path)
        return _retrying_rdb(url.render_as_string(hide_password=False), shown, sqlite=True)
    try:
        dialect = url.get_dialect()
    except Exception:  # noqa: BLE001  (NoSuchModuleError and the like: not a database URL)
        raise ConfigError(f"storage {shown} has an unknown scheme {scheme!r}; {SUPPORTED}") from None
    try:
        dialect.import_dbapi()
    except Exception as err:  # noqa: BLE001  (ImportError of the missing driver)
        module = getattr(err, "name", None) or dialect.driver
        raise ConfigError(
            f"storage {shown} needs the Python database driver {module!r}, which is not installed; install it or {SUPPORTED}"
        ) from None
    return _retrying_rdb(url.render_as_string(hide_password=False), shown)


# --------------------------------------------------------------------------- journal
def _check_journal_lines(path: Path) -> None:
    """Every line of an existing journal is a JSON object with ``op_code``. A last line
    without its newline is a write in progress, or one cut off by a crash: it is read again
    a moment later, and still cut off it is refused (Optuna would append to it and break the
    journal for good)."""
    with open(path, "rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
            raise ConfigError(f"storage {path} is an sqlite database, not an Optuna journal; give it as sqlite:///{path}")
    for attempt in range(JOURNAL_RECHECKS):
        cut = _cut_off_line(path)
        if cut is None:
            return
        time.sleep(0.1 * (attempt + 1))
    raise ConfigError(
        f"storage {path} ends in a cut-off line {cut} (a write was interrupted); remove that last line, or give a new file name"
    )


def _cut_off_line(path: Path) -> int | None:
    """The number of the last line when it lacks its newline, else None (every complete line
    checked: a line that is not a journal entry is a ConfigError)."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                if not (line.startswith(_JOURNAL_LINE_START) or _JOURNAL_LINE_START.startswith(line)):
                    raise ConfigError(_not_journal(path, number))
                return number
            try:
                entry = json.loads(line)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                raise ConfigError(_not_journal(path, number)) from None
            if not isinstance(entry, dict) or "op_code" not in entry:
                raise ConfigError(_not_journal(path, number))
    return None


def _not_journal(path: Path, line: int) -> str:
    return (
        f"storage {path} is not an Optuna journal (line {line} is not a journal entry); "
        "give a new file name, or the journal file of an earlier search"
    )


def _check_symlinks(folder: Path) -> None:
    """Optuna's journal lock is a symbolic link next to the file: the folder must allow one."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".spikebits-probe-", dir=folder)
    except OSError as err:  # pragma: no cover  (_check_folder created one a moment ago)
        raise ConfigError(f"cannot create files in storage folder {folder} ({_os_reason(err)}); choose another --storage") from None
    os.close(fd)
    link = probe + ".lock"
    try:
        os.symlink(probe, link)
    except OSError as err:
        raise ConfigError(
            f"the file system of {folder} does not allow symbolic links ({_os_reason(err)}), which Optuna's journal "
            "lock needs; use sqlite:///FILE.db or another folder"
        ) from None
    finally:
        os.unlink(probe)
    os.unlink(link)


def _open_journal(storage: str) -> optuna.storages.JournalStorage:
    raw = storage[len("journal://") :] if storage.startswith("journal://") else storage
    if not raw.strip():
        raise ConfigError(f"storage {storage!r} names no file; {SUPPORTED}")
    _check_not_folder_name(raw, "a journal file")
    path = Path(raw).expanduser()
    exists = _check_existing_file(path, "a journal file")
    _check_folder(path.parent)
    _check_symlinks(path.parent)
    if exists:
        _check_journal_lines(path)
    try:
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except OSError as err:
        raise ConfigError(f"cannot open journal file {path} ({_os_reason(err)}); choose a writable --storage") from None
    except Exception as err:  # noqa: BLE001  (a well-formed line Optuna cannot replay, and the like)
        raise ConfigError(f"cannot open journal file {path} ({_reason(err)}); it is damaged: give a new file name") from None


# --------------------------------------------------------------------------- entry point
def open_storage(storage: str | None) -> optuna.storages.RDBStorage | optuna.storages.JournalStorage | None:
    """``None`` (in memory), an RDB URL (``sqlite:///study.db``), or a journal file path
    (``runs/study.log``, or ``journal:///path``), checked and opened; any problem is a
    one-line :class:`ConfigError`."""
    if storage is None:
        return None
    if not isinstance(storage, str) or not storage.strip():
        raise ConfigError(f"--storage {storage!r} is empty; {SUPPORTED}")
    if storage.startswith("journal://"):
        return _open_journal(storage)
    if "://" in storage:
        return _open_rdb(storage)
    scheme, sep, rest = storage.partition(":")
    if sep and rest.startswith("/") and scheme.isidentifier() and len(scheme) > 1 and not Path(scheme + ":").exists():
        # sqlite:/x.db or journal:/x.log: a URL with a slash missing, not a file in a folder "sqlite:".
        raise ConfigError(f"storage {storage!r} looks like a URL without its '//'; {SUPPORTED}")
    return _open_journal(storage)


def storage_file(storage: str | None) -> Path | None:
    """The file a ``--storage`` string names (a journal file or an sqlite database), or None
    (in memory, or a database server)."""
    if storage is None or not storage.strip():
        return None
    if storage.startswith("journal://"):
        return Path(storage[len("journal://") :]).expanduser()
    if "://" not in storage:
        return Path(storage).expanduser()
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(storage)
    except Exception:  # noqa: BLE001  (open_storage has refused it already)
        return None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def artifact_dir(storage: str | None) -> Path | None:
    """The folder beside a file storage that holds its Optuna artifacts (``runs/x/study.journal``
    → ``runs/x/study.artifacts``), or None when the storage is not a file."""
    path = storage_file(storage)
    return None if path is None else path.with_suffix(".artifacts")

