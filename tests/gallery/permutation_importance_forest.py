"""permutation_importance of a RandomForest (as scikit-learn's permutation importance example)."""
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
result = permutation_importance(forest, X_test, y_test, n_repeats=5, random_state=0)
print("top", np.argsort(result.importances_mean)[::-1][:5].tolist())
print("means", np.round(np.sort(result.importances_mean)[::-1][:5], 6).tolist())
