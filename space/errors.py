"""Errors a user can cause. Each carries a one-line message that says what to do.

The CLI turns any :class:`SpikebitsError` into exit code 2 without a traceback.
"""

from __future__ import annotations


class SpikebitsError(Exception):
    """Base class of every error a user can cause (bad input, missing data, ...)."""


class ConfigError(SpikebitsError):
    """A config or a search space is malformed or names something that does not exist."""


class BudgetError(SpikebitsError):
    """A budget string is malformed or cannot be met."""


class UnknownNameError(SpikebitsError):
    """A registry (models, data sets, strategies) was asked for a name it does not hold."""


class DataError(SpikebitsError):
    """A data set is missing or malformed on disk."""


class OutputError(SpikebitsError):
    """An output folder or file cannot be written."""


class TrainingError(SpikebitsError):
    """Training diverged: the loss became NaN or infinite (a trial records it as FAIL)."""


class TrainingStopped(SpikebitsError):
    """Training was asked to stop (:class:`evaluators.StopRequest`, set by SIGINT or SIGTERM in
    the CLI) and stopped at a batch boundary. A trial in progress records it as FAIL
    (interrupted); a pretraining keeps its partial checkpoint and resumes from it. The CLI
    exits with 130, as for any interruption."""


class SearchError(SpikebitsError):
    """A search ended without a single finished trial (every trial failed); its output files
    were written first."""


def one_line(err: BaseException | str, limit: int | None = None, *, with_type: bool = False) -> str:
    """An error (or a message) on one line: its words joined by single spaces.

    An exception with no message gives its type's name; ``with_type`` puts the type's name in
    front (``"ValueError: bad value"``); ``limit`` cuts the line to that many characters, the
    last one ``…``.
    """
    text = " ".join(str(err).split())
    if isinstance(err, BaseException):
        name = type(err).__name__
        text = f"{name}: {text}" if with_type and text else (text or name)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def unknown_name_error(kind: str, name: str, known: list[str] | tuple[str, ...]) -> UnknownNameError:
    """The standard one-line error for an unknown registry name."""
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
