"""learning_curve of naive Bayes and an SVC on digits (as scikit-learn's learning curve example)."""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import ShuffleSplit, learning_curve
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
cv = ShuffleSplit(n_splits=4, test_size=0.2, random_state=0)
for model in (GaussianNB(), SVC(gamma=0.001)):
    sizes, train, test = learning_curve(model, X, y, cv=cv, train_sizes=np.linspace(0.2, 1.0, 4))
    print(type(model).__name__, sizes.tolist(), np.round(test.mean(axis=1), 6).tolist())
