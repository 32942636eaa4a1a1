"""RandomizedSearchCV of a RandomForest on digits (as scikit-learn's randomized search example)."""
from scipy.stats import randint
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import RandomizedSearchCV

X, y = load_digits(return_X_y=True)
space = {"max_depth": [3, None], "max_features": randint(1, 11), "min_samples_split": randint(2, 11)}
search = RandomizedSearchCV(RandomForestClassifier(n_estimators=10, random_state=0), space, n_iter=6, cv=3,
                            random_state=0).fit(X, y)
print("best", search.best_params_, round(search.best_score_, 6))
print("ranks", search.cv_results_["rank_test_score"].tolist())
