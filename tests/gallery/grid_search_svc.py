"""GridSearchCV over an SVC's C and gamma on iris (as scikit-learn's RBF parameters example)."""
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedShuffleSplit
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

X, y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)
grid = {"C": np.logspace(-2, 4, 5), "gamma": np.logspace(-5, 1, 5)}
cv = StratifiedShuffleSplit(n_splits=4, test_size=0.2, random_state=42)
search = GridSearchCV(SVC(), param_grid=grid, cv=cv).fit(X, y)
print("best", search.best_params_, round(search.best_score_, 6))
print("scores", np.round(search.cv_results_["mean_test_score"], 6).tolist())
