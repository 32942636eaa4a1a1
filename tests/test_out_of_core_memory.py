"""Lazy data larger than a set memory budget: the blocked and one-pass twins stay within it;
on Parquet files past the budget, PCA, KMeans and a ColumnTransformer + SGD pipeline grow
the process by at most half the data (issue #36).

Each workload runs in a fresh process that measures the memory it allocates
(anonymous pages, sampled every 10 ms) from just before the fit to its end:

- PCA and TruncatedSVD, and the dask-ml backend past its in-memory budget
  (KMeans, SimpleImputer, RobustScaler by their twins; MiniBatchKMeans,
  MinMaxScaler, MaxAbsScaler streamed), over a Dask array of ~300 MiB
  generated block by block;
- a ColumnTransformer (one-hot and ordinal strings, scaled numbers) + SGD
  pipeline on a ~300 MiB lazy DataFrame split by scaleml.model_selection.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.array")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Prepended to every workload: ``measure(fit)`` runs ``fit()`` and returns the figures.
MEASURE = textwrap.dedent("""
    import json, sys, threading, time

    def anonymous_mb():
        # Memory the process allocated (not file pages it maps, which the kernel can drop).
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return (int(fields["RssAnon"].split()[0]) + int(fields["RssShmem"].split()[0])) / 1024

    def measure(fit):
        baseline, peak, done = anonymous_mb(), [0.0], threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], anonymous_mb())
                time.sleep(0.01)

        threading.Thread(target=watch, daemon=True).start()
        figures = fit()
        done.set()
        return {"baseline_mb": baseline, "peak_mb": peak[0], **figures}
""")

ARRAY_WORKLOAD = textwrap.dedent("""
    import dask.array as da
    import sklearn.cluster
    import sklearn.impute
    import sklearn.preprocessing
    from scaleml import Scaled
    from scaleml.decomposition import PCA, TruncatedSVD

    rows, columns, block = 2_000_000, 20, 50_000
    X = da.random.RandomState(0).standard_normal((rows, columns), chunks=(block, columns)) + da.arange(columns)

    STEPS = {
        "twins": (sklearn.cluster.KMeans(4, max_iter=2, random_state=0), sklearn.impute.SimpleImputer(),
                  sklearn.preprocessing.RobustScaler()),
        "streamed": (sklearn.cluster.MiniBatchKMeans(4, random_state=0), sklearn.preprocessing.MinMaxScaler(),
                     sklearn.preprocessing.MaxAbsScaler()),
    }

    def fit():
        group = sys.argv[1]
        passes = [PCA(5).fit(X).n_passes_, TruncatedSVD(5).fit(X).n_passes_] if group == "twins" else []
        engines = [Scaled(step, backend="dask-ml", max_in_memory_bytes=64 * 2**20).fit(X).plan_[0].engine
                   for step in STEPS[group]]
        return {"data_mb": X.nbytes / 2**20, "block_mb": block * columns * 8 / 2**20,
                "passes": passes, "engines": engines}

    print(json.dumps(measure(fit)))
""")

FRAME_WORKLOAD = textwrap.dedent("""
    import dask.array as da
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
    from scaleml import Scaled
    from scaleml.model_selection import train_test_split

    rows, block = 6_000_000, 50_000
    numbers = dd.from_dask_array(da.random.RandomState(0).standard_normal((rows, 4), chunks=(block, 4)),
                                 columns=["a", "b", "c", "d"])
    COLORS = np.array(["red", "green", "blue", "amber", "violet"])

    def with_strings(part):
        codes = (np.abs(part["c"].to_numpy()) * 2).astype(int) % 5
        return part.assign(color=COLORS[codes], label=(part["a"].to_numpy() + (codes == 0) > 0).astype(int))

    meta = numbers._meta.assign(color=pd.Series(dtype=object), label=pd.Series(dtype=int))
    frame = numbers.map_partitions(with_strings, meta=meta)
    frame_mb = with_strings(numbers.partitions[0].compute()).memory_usage(deep=True).sum() * (rows // block) / 2**20

    def fit():
        train, test = train_test_split(frame, test_size=0.2, random_state=0)
        columns = ColumnTransformer([("color", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                                     ("rank", OrdinalEncoder(), ["color"]),
                                     ("numbers", StandardScaler(), ["a", "b"])])
        model = Scaled(make_pipeline(columns, SGDClassifier(random_state=0)), backend="dask-ml",
                       max_in_memory_bytes=32 * 2**20).fit(train, "label")
        return {"data_mb": frame_mb, "engine": model.plan_[0].engine, "score": model.score(test, "label")}

    print(json.dumps(measure(fit)))
""")


def _measured(workload: str, *args: str) -> dict:
    run = subprocess.run([sys.executable, "-c", MEASURE + workload, *args], capture_output=True, text=True,
                         timeout=280)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group, engines", [
    ("twins", ["scaleml.cluster", "scaleml.preprocessing", "scaleml.preprocessing"]),
    ("streamed", ["scikit-learn partial_fit"] * 3),
])
def test_lazy_data_past_the_budget_is_fitted_within_a_few_blocks(group, engines):
    """One process per group: allocator arenas kept between many fits would blur the figure."""
    budget_mb = 120
    figures = _measured(ARRAY_WORKLOAD, group)
    assert figures["data_mb"] > 2 * budget_mb, figures  # the data could not be held within the budget
    assert figures["passes"] == ([1, 1] if group == "twins" else [])
    assert figures["engines"] == engines
    assert figures["peak_mb"] - figures["baseline_mb"] < budget_mb, figures


def test_a_column_transformer_pipeline_on_a_split_lazy_dataframe_stays_bounded():
    """Strings and numbers, split by scaleml.model_selection, fitted past a 32 MiB budget.

    The growth includes the 32 MiB loaded before the budget is seen to be exceeded
    (measured: 142 MiB with three parts, 127 with two).
    """
    budget_mb = 165
    figures = _measured(FRAME_WORKLOAD)
    assert figures["data_mb"] > 1.8 * budget_mb, figures  # as pandas holds it, strings included
    assert figures["engine"] == "scaleml.preprocessing" and figures["score"] > 0.95
    assert figures["peak_mb"] - figures["baseline_mb"] < budget_mb, figures


# -- Parquet files past the budget (issue #36 item 3) --------------------------------------------------------
# bench/out_of_core/peak_rss.py generates the files in one process and runs each fit in a fresh
# one, which reports its peak RSS growth (peak minus RSS after imports, just before the fit).
# Sizes: the numeric files 2.4 M x 10 float64 (183 MiB), the mixed ones 3.6 M rows (~330 MiB as
# pandas holds them): about 35-50 MiB of the growth is fixed (pyarrow's and Dask's first read,
# planning), so smaller data would measure that rather than what grows with the data.

PEAK_RSS = Path(__file__).resolve().parents[1] / "bench" / "out_of_core" / "peak_rss.py"
BUDGET = 2**24  # the user's max_in_memory_bytes


def _peak(*args: str) -> dict:
    run = subprocess.run([sys.executable, str(PEAK_RSS), *args], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parquet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("peak-rss")
    _peak("generate", str(root), "--rows", "2400000", "--mixed-rows", "3600000")
    return root


@pytest.mark.timeout(900)
def test_pca_past_the_budget_on_parquet_grows_by_under_half_the_data(parquet_root):
    ours = _peak("fit", "pca", str(parquet_root), "--budget", str(BUDGET))
    assert ours["routes"] == [["PCA", "scaleml.decomposition", "BLOCKED"]]  # past the budget: the twin
    assert ours["ratio"] <= 0.5, ours
    theirs = _peak("fit", "sklearn-pca", str(parquet_root))  # scikit-learn on the rows read whole
    signs = np.sign(np.sum(np.multiply(ours["components"], theirs["components"]), axis=1))
    np.testing.assert_allclose(np.multiply(ours["components"], signs[:, None]), theirs["components"], atol=1e-6)


@pytest.mark.timeout(1200)
def test_kmeans_on_parquet_grows_by_under_half_the_data(parquet_root):
    ours = _peak("fit", "kmeans", str(parquet_root))
    assert ours["ratio"] <= 0.5, ours
    theirs = _peak("fit", "sklearn-kmeans", str(parquet_root))
    assert ours["inertia"] == pytest.approx(theirs["inertia"], rel=1e-3)


@pytest.mark.timeout(900)
def test_sgd_pipeline_past_the_budget_on_parquet_grows_by_under_half_the_data(parquet_root):
    ours = _peak("fit", "sgd", str(parquet_root), "--budget", str(BUDGET))
    assert [route[2] for route in ours["routes"]] == ["BLOCKED", "STREAMED"]  # the ColumnTransformer's twin
    assert ours["ratio"] <= 0.5, ours
    # A budget that fits: the ColumnTransformer loaded whole, the same score.
    fits = _peak("fit", "sgd", str(parquet_root), "--budget", str(2**40))
    assert [route[2] for route in fits["routes"]] == ["LOADED", "STREAMED"]
    assert ours["score"] == pytest.approx(fits["score"], abs=1e-3)
