"""Results taken in input order, so that the first error raised is the one a sequential run raises.

joblib's backends hand each batch's result to joblib on a callback thread as it
arrives, and a ``Parallel`` call raises the error of the first batch to *fail in
time*. When several calls fail (a wrong ``params=`` length that fails every fit of a
``learning_curve``, each with another message), that is a different error from run
to run, and not the one the same code raises sequentially: the first in input order.

joblib also has a path for backends without result callbacks: the calling thread
takes the results itself, in input order, and raises the first error it meets. A
backend with :class:`ResultsInOrder` takes that path for every ``Parallel`` call that
returns a list (every call scikit-learn makes); calls that return generators keep
the callback path, on which joblib builds them. What it costs: an error is raised
once the calls before it have finished, as sequentially, instead of at once.
"""

from __future__ import annotations

from typing import Any


class ResultsInOrder:
    """Mixin for a joblib ``ParallelBackendBase``: list results taken in input order.

    The backend calls :meth:`take_results_in_order` from its ``start_call`` and
    implements :meth:`wait_for`; ``retrieve_result`` (joblib's hook for the
    calling thread) waits for a batch, then reads it as ``retrieve_result_callback``
    would have on the callback thread.
    """

    # Set per call by take_results_in_order; joblib's base derives these two from it,
    # and asks for them before start_call: they stay what the callback path allows.
    supports_retrieve_callback = True
    supports_return_generator = True
    supports_timeout = True

    def take_results_in_order(self, wanted: bool = True) -> None:
        """For the ``Parallel`` call starting now: results in input order if ``wanted``
        and the call returns a list; else joblib's callback path."""
        parallel = getattr(self, "parallel", None)
        in_order = wanted and parallel is not None and not getattr(parallel, "return_generator", True)
        self.supports_retrieve_callback = not in_order

    def wait_for(self, out: Any, timeout: float | None) -> None:  # pragma: no cover - each backend's own
        """Block until the batch ``out`` (what ``submit`` returned) is done."""
        raise NotImplementedError

    def retrieve_result(self, out: Any, timeout: float | None = None) -> Any:
        self.wait_for(out, timeout)
        return self.retrieve_result_callback(out)
