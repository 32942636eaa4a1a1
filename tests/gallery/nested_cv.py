"""Nested cross-validation: a GridSearchCV scored by cross_val_score (as scikit-learn's nested CV example)."""
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.svm import SVC

X, y = load_iris(return_X_y=True)
inner, outer = KFold(n_splits=3, shuffle=True, random_state=0), KFold(n_splits=3, shuffle=True, random_state=1)
search = GridSearchCV(SVC(kernel="rbf"), {"C": [1, 10, 100], "gamma": [0.01, 0.1]}, cv=inner)
scores = cross_val_score(search, X, y, cv=outer)
print("nested", np.round(scores, 6).tolist(), round(scores.mean(), 6))
