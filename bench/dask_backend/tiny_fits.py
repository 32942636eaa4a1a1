"""Many small fits and a few large ones: `dask` vs `local n_jobs=-1` vs joblib's own dask backend.

Ten gallery-style workloads (SVC grids on iris and digits, repeated CV,
permutation_test_score, validation_curve, learning_curve, RFECV, a forest with
permutation_importance, a forest grid, stacking) run unchanged inside:

- ``scaleml.backend("local", n_jobs=-1)``: joblib's loky on every core (the floor);
- ``scaleml.backend("dask")``: scaleml's dask backend on its managed LocalCluster;
- ``joblib.parallel_config(backend="dask")``: joblib's own dask backend, same cluster.

One untimed round warms every backend, then rounds go workload by workload,
backend by backend, in an order that changes each round (``scaleml.bench.order.balanced``: A B C,
C B A, B C A, A C B, ...; six rounds run all six orders): what ran just before a
run matters here (a `dask` run right after another was 5-12 % faster than one
right after loky's); medians of the rounds.

    python bench/dask_backend/tiny_fits.py --rounds 3
    python bench/dask_backend/tiny_fits.py --rounds 1 --backends "local n_jobs=-1,dask"   # two of the three
    python bench/dask_backend/tiny_fits.py --rounds 6 --telling-cost   # what workers_say costs
    python bench/dask_backend/tiny_fits.py --rounds 3 --ordering-cost  # what errors in input order cost

``--telling-cost`` runs ``local n_jobs=-1`` and ``dask`` each twice, as they are and with
``workers_say=False`` (their workers' warnings and output left where they were said, as
joblib does), the four arms interleaved round by round on the same cluster and loky pool,
and prints what telling costs on the total: the median of the per-round totals, told
over quiet, with its bootstrap interval (``scaleml.bench.stats.ratio_interval``).

``--ordering-cost`` does the same with the backends' errors-in-input-order switched off
(``scaleml.backends._errors_in_order``, patched for that arm only): what handing failed
batches over in input order costs calls that do not fail.

Writes bench/results/tiny-fits.json and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from scaleml.bench.order import balanced

HERE = Path(__file__).resolve().parent


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def svc_grid_iris():
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = _iris()
    grid = {"C": np.logspace(-2, 4, 13), "gamma": np.logspace(-5, 1, 13)}
    return GridSearchCV(SVC(), grid, cv=5).fit(X, y).best_score_


def svc_grid_digits():
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = _digits()
    return GridSearchCV(SVC(), {"C": [0.1, 1, 10, 100], "gamma": [1e-3, 1e-2, 0.1, 1]}, cv=3).fit(X, y).best_score_


def repeated_cv_grid():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold

    X, y = _iris()
    cv = RepeatedStratifiedKFold(n_splits=10, n_repeats=10, random_state=0)
    return GridSearchCV(LogisticRegression(max_iter=500), {"C": np.logspace(-3, 3, 10)}, cv=cv).fit(X, y).best_score_


def permutation_test():
    from sklearn.model_selection import permutation_test_score
    from sklearn.svm import SVC

    X, y = _iris()
    return permutation_test_score(SVC(), X, y, n_permutations=100, cv=5, random_state=0)[0]


def validation_curve_svc():
    from sklearn.model_selection import validation_curve
    from sklearn.svm import SVC

    X, y = _digits()
    _, test = validation_curve(SVC(), X, y, param_name="gamma", param_range=np.logspace(-6, -1, 6), cv=5)
    return float(test.mean())


def learning_curve_nb():
    from sklearn.model_selection import learning_curve
    from sklearn.naive_bayes import GaussianNB

    X, y = _digits()
    _, _, test = learning_curve(GaussianNB(), X, y, cv=10, train_sizes=np.linspace(0.1, 1.0, 10))
    return float(test.mean())


def rfecv():
    from sklearn.datasets import load_breast_cancer
    from sklearn.feature_selection import RFECV
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return RFECV(LogisticRegression(max_iter=1000), step=2, cv=5).fit(X, y).n_features_


def forest_permutation_importance():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=200, random_state=0).fit(X, y)
    return float(permutation_importance(forest, X, y, n_repeats=10, random_state=0).importances_mean.max())


def forest_grid():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(n_samples=5_000, n_features=20, random_state=0)
    search = GridSearchCV(RandomForestClassifier(n_estimators=100, random_state=0), {"max_depth": [5, 10, None]}, cv=3)
    return search.fit(X, y).best_score_


def stacking():
    from sklearn.ensemble import RandomForestClassifier, StackingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    X, y = _digits()
    stack = StackingClassifier([("rf", RandomForestClassifier(n_estimators=50, random_state=0)), ("svc", SVC())],
                               final_estimator=LogisticRegression(max_iter=500))
    return stack.fit(X, y).score(X, y)


WORKLOADS = [svc_grid_iris, svc_grid_digits, repeated_cv_grid, permutation_test, validation_curve_svc,
             learning_curve_nb, rfecv, forest_permutation_importance, forest_grid, stacking]


QUIET_LOCAL = "local n_jobs=-1 workers_say=False"
QUIET_DASK = "dask workers_say=False"
UNORDERED_LOCAL = "local n_jobs=-1 unordered"
UNORDERED_DASK = "dask unordered"


def _switch_cost(times: dict, contexts: dict, arms: tuple, names: tuple) -> dict:
    """On the per-round totals, each backend with a feature over the same without it.

    ``arms``: pairs of context labels (with, without); ``names``: the two words for the
    ratio's key and the printed line (``("told", "quiet")``).
    """
    from scaleml.bench.stats import ratio_interval

    cost = {}
    with_, without = names
    for on, off in arms:
        if on in contexts and off in contexts:
            rounds = [[sum(by[arm][r] for by in times.values()) for r in range(len(next(iter(times.values()))[arm]))]
                      for arm in (on, off)]
            ratio = statistics.median(rounds[0]) / statistics.median(rounds[1])
            low, high = ratio_interval(rounds[0], rounds[1])
            cost[on] = {f"{with_}_over_{without}": ratio, "interval": [low, high], f"{with_}_totals": rounds[0],
                        f"{without}_totals": rounds[1]}
            print(f"{with_} on {on}: total {ratio:.3f}x {without} (interval {low:.3f}-{high:.3f}, "
                  f"{len(rounds[0])} rounds)")
    return cost


@contextmanager
def _unordered(context):
    """``context()`` with the errors-in-input-order wrapping switched off (no call found to
    order, so every callback goes to joblib unwrapped)."""
    from scaleml.backends import _errors_in_order

    original = _errors_in_order._call_of
    _errors_in_order._call_of = lambda callback: None
    try:
        with context():
            yield
    finally:
        _errors_in_order._call_of = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "tiny-fits.json"))
    parser.add_argument("--backends", default="local n_jobs=-1,dask,joblib's dask backend",
                        help="comma-separated labels of the backends to run (default: all three)")
    parser.add_argument("--telling-cost", action="store_true",
                        help="local n_jobs=-1 and dask with and without workers_say (writes tiny-fits-telling.json)")
    parser.add_argument("--ordering-cost", action="store_true",
                        help="local n_jobs=-1 and dask with and without errors in input order "
                             "(writes tiny-fits-ordering.json)")
    args = parser.parse_args()
    for switch, arms, name in ((args.telling_cost, (QUIET_LOCAL, QUIET_DASK), "telling"),
                               (args.ordering_cost, (UNORDERED_LOCAL, UNORDERED_DASK), "ordering")):
        if switch:
            args.backends = f"local n_jobs=-1,{arms[0]},dask,{arms[1]}"
            if args.out == parser.get_default("out"):
                args.out = str(HERE.parent / "results" / f"tiny-fits-{name}.json")

    import joblib

    import scaleml
    from scaleml import machine
    from scaleml.bench.results import write_json

    dask_backend = scaleml.backends.create_backend("dask")
    client = dask_backend.cluster()  # the managed LocalCluster: started before any timing
    quiet_dask = scaleml.backends.create_backend("dask", workers_say=False)  # the same managed cluster
    contexts = {
        "local n_jobs=-1": lambda: scaleml.backend("local", n_jobs=-1),
        QUIET_LOCAL: lambda: scaleml.backend("local", n_jobs=-1, workers_say=False),
        "dask": lambda: scaleml.backend(dask_backend),
        QUIET_DASK: lambda: scaleml.backend(quiet_dask),
        UNORDERED_LOCAL: lambda: _unordered(lambda: scaleml.backend("local", n_jobs=-1)),
        UNORDERED_DASK: lambda: _unordered(lambda: scaleml.backend(dask_backend)),
        "joblib's dask backend": lambda: joblib.parallel_config(backend="dask", client=client),
    }
    contexts = {label: contexts[label] for label in args.backends.split(",")}
    if "dask" not in contexts or "local n_jobs=-1" not in contexts:
        raise SystemExit("--backends must include 'dask' and 'local n_jobs=-1' (the ratio)")
    times: dict[str, dict[str, list[float]]] = {w.__name__: {b: [] for b in contexts} for w in WORKLOADS}
    results: dict[str, dict[str, float]] = {w.__name__: {} for w in WORKLOADS}
    for round_ in range(args.rounds + 1):  # round 0 warms up, not counted
        for workload in WORKLOADS:
            for label in balanced(list(contexts), round_):
                context = contexts[label]
                with context():
                    start = time.perf_counter()
                    value = workload()
                    seconds = time.perf_counter() - start
                if round_:
                    times[workload.__name__][label].append(seconds)
                results[workload.__name__][label] = float(value)
            print(f"round {round_}: {workload.__name__}: " + ", ".join(
                f"{b} {times[workload.__name__][b][-1]:.2f} s" for b in contexts if round_), flush=True)
    header = f"{'workload':<32} " + " ".join(f"{b:>22}" for b in contexts) + f" {'dask / local':>13}"
    print("\n" + header)
    summary = {}
    for name, by_backend in times.items():
        medians = {b: statistics.median(v) for b, v in by_backend.items()}
        summary[name] = {**medians, "dask_over_local": medians["dask"] / medians["local n_jobs=-1"],
                         "same_result": len(set(results[name].values())) == 1}
        print(f"{name:<32} " + " ".join(f"{medians[b]:>22.3f}" for b in contexts)
              + f" {summary[name]['dask_over_local']:>13.2f}")
    totals = {b: sum(summary[n][b] for n in summary) for b in contexts}
    print(f"{'total':<32} " + " ".join(f"{totals[b]:>22.3f}" for b in contexts)
          + f" {totals['dask'] / totals['local n_jobs=-1']:>13.2f}")
    telling = _switch_cost(times, contexts, (("local n_jobs=-1", QUIET_LOCAL), ("dask", QUIET_DASK)),
                           ("told", "quiet"))
    ordering = _switch_cost(times, contexts, (("local n_jobs=-1", UNORDERED_LOCAL), ("dask", UNORDERED_DASK)),
                            ("ordered", "unordered"))
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "rounds": args.rounds, "summary": summary, "totals": totals, "times": times,
                          "results": results, **({"telling_cost": telling} if telling else {}),
                          **({"ordering_cost": ordering} if ordering else {})})
    print(f"wrote {args.out}")
    quiet_dask.stop()
    dask_backend.stop()


if __name__ == "__main__":
    main()
