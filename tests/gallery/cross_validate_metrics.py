"""cross_validate with several metrics (as scikit-learn's multi-metric example)."""
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
result = cross_validate(model, X, y, cv=5, scoring=["accuracy", "roc_auc", "f1"], return_train_score=True)
for key in ("test_accuracy", "test_roc_auc", "test_f1", "train_accuracy"):
    print(key, np.round(result[key], 6).tolist())
