"""HalvingGridSearchCV: successive halving over a grid (as scikit-learn's halving example)."""
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV

X, y = make_classification(n_samples=600, random_state=0)
grid = {"max_depth": [3, 5, None], "min_samples_split": [2, 5, 10]}
search = HalvingGridSearchCV(RandomForestClassifier(n_estimators=10, random_state=0), grid, cv=3, factor=2,
                             random_state=0).fit(X, y)
print("best", search.best_params_, round(search.best_score_, 6))
print("iterations", search.n_iterations_, search.n_candidates_)
