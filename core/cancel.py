"""The one way to stop long work: a `CancelToken` that the caller sets and the work polls.

Registration, lifting, regressor training, rounds, the fit pipeline and export all take `cancel:
CancelToken | None` and behave the same way when it is set: they stop at their next check (before an
optimiser step, a chunk, a file) and RAISE `Cancelled`, whose message says what stopped where. Nothing
partial is returned. What they committed before the check stays committed and whole: saved fits of
earlier chunks, a regressor checkpoint written on the way out, exported files already replaced into place,
round records up to the last consistent write (so a round resumes with `resume=True`). `Cancelled.done`
describes that committed work where the call has something to say (the fit pipeline: its FitSummary of
the saved chunks; export: the list of whole files written), else it is None.

The token is thread-safe (a `threading.Event` underneath): the app's GUI thread calls `cancel()` while a
worker thread polls. A signal handler may call `cancel()` too (the command line does on SIGINT / SIGTERM).
"""

from __future__ import annotations

import threading


class Cancelled(RuntimeError):
    """Raised by long work whose CancelToken was set; `done`: what it committed before (module docstring)."""

    def __init__(self, message: str, done: object = None) -> None:
        super().__init__(message)
        self.done = done


class CancelToken:
    """A cancel flag: `cancel()` sets it (any thread), `cancelled` reads it, `raise_if_cancelled` checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str, done: object = None) -> None:
        """Raise `Cancelled(f"{what} cancelled", done)` when the token is set; `what` names the work and where."""
        if self._event.is_set():
            raise Cancelled(f"{what} cancelled", done)


def check_token(cancel: object, where: str) -> CancelToken | None:
    """`cancel` itself when it is a CancelToken or None; a TypeError naming `where` otherwise.

    Long work calls this once on entry, so a caller passing an old-style callable or Event learns at once
    instead of the flag being read as something else.
    """
    if cancel is None or isinstance(cancel, CancelToken):
        return cancel
    raise TypeError(f"{where}: cancel must be a deformlearn.core.cancel.CancelToken or None, got {type(cancel).__name__}")


def raise_if_cancelled(cancel: CancelToken | None, what: str, done: object = None) -> None:
    """`cancel.raise_if_cancelled(what, done)` for an optional token (None never cancels)."""
    if cancel is not None:
        cancel.raise_if_cancelled(what, done)
