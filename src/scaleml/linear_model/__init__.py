"""Linear models fitted over blocks of rows: in memory, on a Dask cluster, or out of core.

Same objectives as scikit-learn's estimators of the same names, so the
coefficients agree with scikit-learn's on data that fits in memory; on Dask
arrays, DataFrames or Parquet/CSV paths each solver step is one pass over the
blocks, computed and reduced where the blocks are.

    LogisticRegression   L2-penalized (or unpenalized), binary or multinomial;
                         Newton or L-BFGS, one pass per step
    LinearRegression     least squares in one pass
    Ridge                L2-penalized least squares in one pass
    PoissonRegressor     L2-penalized Poisson regression (log link); Newton or L-BFGS,
                         one pass per step

    from_sklearn         the twin of a scikit-learn linear model, or None

The ``dask-ml`` backend fits scikit-learn's LogisticRegression, LinearRegression,
Ridge and PoissonRegressor with these when lazy data is larger than its in-memory budget.
"""

from ._least_squares import LinearRegression, Ridge
from ._logistic import LogisticRegression
from ._poisson import PoissonRegressor
from ._twins import from_sklearn

__all__ = ["LinearRegression", "LogisticRegression", "PoissonRegressor", "Ridge", "from_sklearn"]
