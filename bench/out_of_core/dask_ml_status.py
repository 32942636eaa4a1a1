"""Which of dask-ml's classes still run on today's Dask and scikit-learn: one small call each.

A smoke check, not a benchmark: each class is fitted (and, where it has one,
transforms) on 2,000 generated rows in 4 blocks, on the threaded scheduler
without a Dask client. "works" means the call returned; speed and correctness
are measured elsewhere (bench/BENCHMARKS.md). The README's dask-ml table cites it.

    python bench/out_of_core/dask_ml_status.py      # writes bench/results/dask-ml-status.json
"""

import json
import warnings
from pathlib import Path

import dask.array as da
import dask.dataframe as dd
import dask_ml.cluster as c
import dask_ml.compose as comp
import dask_ml.decomposition as dcp
import dask_ml.impute as imp
import dask_ml.linear_model as lm
import dask_ml.model_selection as ms
import dask_ml.preprocessing as p
import dask_ml.wrappers as w
import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scaleml import machine
from scaleml.bench.results import write_json

warnings.simplefilter("ignore")
X, y = make_classification(2000, 6, random_state=0)
Xd, yd = da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500)
frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcdef")).assign(cat=pd.Categorical(np.array(["u", "v"])[y])),
                       npartitions=4)
checks = {}
def check(name, fn):
    try:
        fn(); checks[name] = "works"
    except Exception as e:
        checks[name] = f"fails: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
check("Incremental", lambda: w.Incremental(SGDClassifier()).fit(Xd, yd, classes=[0, 1]))
check("ParallelPostFit", lambda: w.ParallelPostFit(SkLR()).fit(X, y).predict(Xd).compute())
check("LogisticRegression", lambda: lm.LogisticRegression().fit(Xd, yd))
check("KMeans", lambda: c.KMeans(3).fit(Xd))
check("SpectralClustering", lambda: c.SpectralClustering(3, n_components=100).fit(Xd))
check("PCA", lambda: dcp.PCA(3).fit(Xd))
check("TruncatedSVD", lambda: dcp.TruncatedSVD(3).fit(Xd))
check("IncrementalPCA", lambda: dcp.IncrementalPCA(3).fit(Xd))
check("StandardScaler", lambda: p.StandardScaler().fit(Xd).transform(Xd).compute())
check("MinMaxScaler", lambda: p.MinMaxScaler().fit(Xd).transform(Xd).compute())
check("RobustScaler", lambda: p.RobustScaler().fit(Xd).transform(Xd).compute())
check("QuantileTransformer", lambda: p.QuantileTransformer().fit(Xd).transform(Xd).compute())
check("Categorizer+DummyEncoder", lambda: p.DummyEncoder().fit(p.Categorizer().fit_transform(frame)).transform(p.Categorizer().fit_transform(frame)).compute())
check("OneHotEncoder", lambda: p.OneHotEncoder().fit(p.Categorizer().fit_transform(frame[["cat"]])).transform(p.Categorizer().fit_transform(frame[["cat"]])).compute())
check("OrdinalEncoder", lambda: p.OrdinalEncoder().fit(p.Categorizer().fit_transform(frame)).transform(p.Categorizer().fit_transform(frame)).compute())
check("SimpleImputer", lambda: imp.SimpleImputer().fit(Xd).transform(Xd).compute())
check("ColumnTransformer", lambda: comp.ColumnTransformer([("s", p.StandardScaler(), list("abc"))]).fit(frame).transform(frame))
check("train_test_split", lambda: [a.compute() for a in ms.train_test_split(Xd, yd, random_state=0)])
check("KFold", lambda: list(ms.KFold(3).split(Xd)))
check("ShuffleSplit", lambda: list(ms.ShuffleSplit(3).split(Xd)))
check("GridSearchCV", lambda: ms.GridSearchCV(make_pipeline(StandardScaler(), PCA(3), SkLR()), {"logisticregression__C": [0.1, 1]}).fit(X, y))
check("HyperbandSearchCV", lambda: ms.HyperbandSearchCV(SGDClassifier(), {"alpha": [1e-4, 1e-3]}, max_iter=9).fit(Xd, yd, classes=[0, 1]))
write_json(Path(__file__).resolve().parents[1] / "results" / "dask-ml-status.json",
           {"provenance": machine.provenance(machine.script_command(__file__)), "checks": checks})
print(json.dumps(checks, indent=1))
