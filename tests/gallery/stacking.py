"""StackingClassifier (as scikit-learn's stacking example): its base models cross-validated in parallel."""
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=42)
stack = StackingClassifier(
    estimators=[("rf", RandomForestClassifier(n_estimators=10, random_state=42)),
                ("svr", make_pipeline(StandardScaler(), LinearSVC(random_state=42)))],
    final_estimator=LogisticRegression(), n_jobs=-1,
).fit(X_train, y_train)
print("score", round(stack.score(X_test, y_test), 6))
print("proba", np.round(stack.predict_proba(X_test[:3]), 6).tolist())
