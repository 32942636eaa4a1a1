"""RandomForest and ExtraTrees with n_jobs=-1 (as scikit-learn's forest importances example)."""
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

X, y = make_classification(n_samples=1_000, n_features=10, n_informative=3, random_state=0)
for cls in (RandomForestClassifier, ExtraTreesClassifier):
    forest = cls(n_estimators=60, random_state=0, n_jobs=-1).fit(X, y)
    print(cls.__name__, round(forest.score(X, y), 6), np.round(forest.feature_importances_, 6).tolist())
