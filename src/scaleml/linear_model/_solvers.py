"""Minimizers that call the objective once per pass over the data.

``objective(w, order)`` returns ``(f, gradient, hessian)``, computing only what
``order`` asks (0: f, 1: + gradient, 2: + Hessian). Each call is one pass over
every block, so the solvers are judged by how few calls they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize


@dataclass
class Solution:
    w: np.ndarray
    n_iter: int
    converged: bool


def newton(
    objective: Callable, w0: np.ndarray, tol: float, max_iter: int, singular: bool = False,
    report: Callable[[str], None] | None = None,
) -> Solution:
    """Damped Newton: each iteration one pass (loss, gradient and Hessian together).

    Converged when the gradient's largest entry is at most ``tol`` (scikit-learn's
    criterion) and the Newton decrement ``g' H^-1 g / 2`` (the loss still to gain)
    at most ``tol**2``; the step is then taken, which in Newton's quadratic regime
    lands far closer to the optimum than ``tol``. ``singular``: the Hessian has a
    known null space (multinomial intercepts), so steps are least-squares solutions.
    """
    w = np.asarray(w0, dtype=np.float64).copy()
    f, g, H = objective(w, 2)
    for iteration in range(1, max_iter + 1):
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            # Overflow (values near the float64 limit): no direction to follow.
            return Solution(w, iteration - 1, False)
        step = _newton_step(H, g, singular)
        slope = float(g @ step)
        if not slope < 0:  # not a descent direction (numerical trouble): follow the gradient
            step, slope = -g, -float(g @ g)
        done = np.max(np.abs(g)) <= tol and -slope / 2 <= tol**2
        t = 1.0
        while True:
            f_new, g_new, H_new = objective(w + t * step, 2)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-10:  # no step decreases the loss (or every one overflows)
                return Solution(w, iteration, done)
        w, f, g, H = w + t * step, f_new, g_new, H_new
        if report is not None:
            report(f"newton iteration {iteration}: loss {f:.10g}, max |gradient| {np.max(np.abs(g)):.3g}, step {t:g}")
        if done:
            return Solution(w, iteration, True)
    return Solution(w, max_iter, bool(np.max(np.abs(g)) <= tol))


def _newton_step(H: np.ndarray, g: np.ndarray, singular: bool) -> np.ndarray:
    if not np.all(np.isfinite(H)):
        return -g
    if not singular:
        try:
            return -scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, check_finite=False), g, check_finite=False)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            pass  # flat directions (no penalty, collinear columns): least squares below
    return -scipy.linalg.lstsq(H, g, check_finite=False)[0]


def lbfgs(
    objective: Callable, w0: np.ndarray, tol: float, max_iter: int, report: Callable[[str], None] | None = None,
) -> Solution:
    """SciPy's L-BFGS-B with scikit-learn's settings; one pass per evaluation."""
    evaluations = 0

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        f, g, _ = objective(w, 1)
        if report is not None:
            report(f"lbfgs evaluation {evaluations}: loss {f:.10g}, max |gradient| {np.max(np.abs(g)):.3g}")
        return f, g

    result = scipy.optimize.minimize(
        fun, np.asarray(w0, dtype=np.float64), jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
    )
    return Solution(result.x, int(result.nit), result.status == 0)
