"""Stop a run on SIGINT and SIGTERM at the next batch boundary (:class:`StopOnSignals`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from spikebits.search.driver import RunControl


class StopOnSignals:
    """``with StopOnSignals(control, evaluator):`` the first SIGINT or SIGTERM asks the run to
    ask nothing more (``control``, the run's :class:`search.driver.RunControl`) and the
    evaluator's training in progress — pretraining, fine-tuning, a supernet — to stop after
    the current batch (the evaluator's ``stop``, an :class:`evaluators.StopRequest`), then calls
    ``announce(signum)``; a second one raises :class:`KeyboardInterrupt` at once. Outside the
    main thread (where Python cannot catch signals) it does nothing. ``received`` is the first
    signal's number. ``evaluator`` may be a list of evaluators (a comparison's, one per seed,
    filled as they are made): each is asked to stop."""

    def __init__(self, control: RunControl, evaluator: Any, announce: Callable[[int], None] | None = None) -> None:
        self.control = control
        self.evaluator = evaluator
        self.announce = announce
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            reason = f"stopped by {signal.Signals(signum).name}"
            self.control.request_stop(reason)
            for evaluator in self.evaluator if isinstance(self.evaluator, list) else [self.evaluator]:
                if evaluator.stop is not None:
                    evaluator.stop.request(reason)
            if self.announce is not None:
                self.announce(signum)
            return
        raise KeyboardInterrupt

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
