"""Plans say, per step, where it runs, on which data form, and why."""

import json

import joblib
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled, explain
from scaleml.planning import walk

X, y = load_iris(return_X_y=True)


def test_nested_pipeline_paths_and_passthrough():
    inner = Pipeline([("scale", StandardScaler()), ("skip", "passthrough"), ("pca", PCA(2))])
    outer = Pipeline([("prep", inner), ("none", None), ("clf", LogisticRegression())])
    assert [path for path, _ in walk(outer)] == ["prep/scale", "prep/pca", "clf"]
    assert [path for path, _ in walk(LogisticRegression())] == ["LogisticRegression"]


def test_column_transformer_and_search_are_single_steps():
    ct = ColumnTransformer([("s", StandardScaler(), [0, 1])])
    search = GridSearchCV(RandomForestClassifier(), {"max_depth": [2]})
    steps = list(walk(make_pipeline(ct, search)))
    assert [type(e).__name__ for _, e in steps] == ["ColumnTransformer", "GridSearchCV"]
    plan = explain(make_pipeline(ct, search))
    assert plan[1].estimator == "GridSearchCV(RandomForestClassifier)"


def test_explain_reports_data_form_and_parallelism():
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_jobs=-1))
    plan = explain(pipe, X=X)
    assert plan.backend == "local" and plan.backend_source == "default"
    assert plan.data == "NumPy float64 (150, 4)"
    first, second = plan
    assert first.device == second.device == "cpu"
    assert first.parallelism == "1 process" and "has no n_jobs" in first.reason
    workers = joblib.effective_n_jobs(-1)
    assert second.parallelism == (f"joblib, up to {workers} workers" if workers > 1 else "1 process")
    assert second.data_form == "output of standardscaler"
    assert "n_jobs=-1" in second.reason
    assert plan.devices == {"cpu"}


def test_backend_n_jobs_option_shows_in_plan():
    plan = explain(RandomForestClassifier(), n_jobs=2)
    assert plan[0].parallelism == "joblib, up to 2 workers"
    assert "backend option n_jobs=2" in plan[0].reason
    single = explain(RandomForestClassifier())
    assert single[0].parallelism == "1 process" and "n_jobs=-1" in single[0].reason


def test_local_n_jobs_leaves_a_step_whose_n_jobs_scikit_learn_ignores_alone():
    """scikit-learn 1.8+ ignores LogisticRegression's n_jobs and warns when it is set: the
    backend option must not set it, and the plan must not promise workers for it."""
    import warnings

    import sklearn

    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 8):
        pytest.skip("scikit-learn before 1.8 reads LogisticRegression's n_jobs")
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="local", n_jobs=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model.fit(X, y)
    step = model.plan_[1]
    assert step.parallelism == "1 process"
    assert "ignores LogisticRegression's n_jobs since 1.8" in step.reason

    class MyLogisticRegression(LogisticRegression):
        pass

    with warnings.catch_warnings():  # a subclass is ignored the same way
        warnings.simplefilter("error", FutureWarning)
        Scaled(MyLogisticRegression(), backend="local", n_jobs=-1).fit(X, y)


def test_explain_a_scaled_uses_its_backend_and_options():
    plan = explain(Scaled(RandomForestClassifier(), backend="local", n_jobs=2))
    assert plan.backend_source == "argument" and plan.backend_options == {"n_jobs": 2}


def test_explain_of_a_class_name_says_to_pass_an_instance():
    from scaleml.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"got the string 'LogisticRegression'\. Pass an instance"):
        explain("LogisticRegression")  # it returned a plan of one step named 'str'
    with pytest.raises(InvalidParameterError, match="got the class LogisticRegression"):
        explain(LogisticRegression)


def test_explain_follows_the_context():
    with scaleml.backend("local", n_jobs=2):
        assert explain(LogisticRegression()).backend_source == "context"


def test_plan_is_data_and_text():
    plan = explain(make_pipeline(StandardScaler(), LogisticRegression()), X=X)
    data = json.loads(json.dumps(plan.to_dict()))
    assert [s["step"] for s in data["steps"]] == ["standardscaler", "logisticregression"]
    assert set(data["steps"][0]) == {
        "step", "estimator", "device", "engine", "parallelism", "data_form", "reason", "route", "observed",
    }
    assert [s["route"] for s in data["steps"]] == ["in-process", "in-process"]
    assert data["dry_run"] is True and data["steps"][0]["observed"] == {}
    text = str(plan)
    assert text.startswith("Plan (dry run, nothing ran): backend 'local' (the default)")
    for step in plan:
        assert step.step in text and step.reason in text


@pytest.mark.parametrize(
    "data, expected",
    [
        (X.astype("float32"), "NumPy float32 (150, 4)"),
        (X.tolist(), "Python list of 150 items"),
        ("data/train.parquet", "path data/train.parquet"),
    ],
)
def test_data_description(data, expected):
    assert explain(LogisticRegression(), X=data).data == expected


def test_data_description_pandas_and_sparse():
    pd = pytest.importorskip("pandas")
    from scipy import sparse

    assert explain(LogisticRegression(), X=pd.DataFrame(X)).data == "pandas DataFrame (150, 4)"
    assert explain(LogisticRegression(), X=sparse.csr_matrix(X)).data == "SciPy sparse csr float64 (150, 4)"
