"""validation_curve of an SVC's gamma on digits (as scikit-learn's validation curve example)."""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import validation_curve
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
gammas = np.logspace(-6, -1, 4)
train, test = validation_curve(SVC(), X, y, param_name="gamma", param_range=gammas, cv=3)
print("train", np.round(train.mean(axis=1), 6).tolist())
print("test", np.round(test.mean(axis=1), 6).tolist())
