"""What a saved model leaves out: parameters only training reads.

An estimator lists them in ``__scaleml_training_only__`` (scaleml.nn's: ``callbacks``
and ``augment``). Predicting never reads them, yet saving them would make every
process that loads the model import their classes: a user's ``Callback`` subclass
defined in a script (``__main__``) cannot be imported anywhere else, and even
scaleml's own would have to be trusted. :func:`without_training_only` returns the
model with those parameters set to None, on copies (the caller's model is left as
it was), and records on each copy what it held (``_saved_without``: parameter ->
its repr), so that :func:`saved_without` can say so after loading.

The walk goes through scikit-learn estimators' attributes and the lists, tuples
and dicts among them: a Pipeline's steps, a search's ``estimator`` and
``best_estimator_``, a ColumnTransformer's transformers.
"""

from __future__ import annotations

from typing import Any

_MARK = "_saved_without"  # no trailing underscore: check_is_fitted must not read it as fitted


def without_training_only(model: Any) -> Any:
    """``model`` with every training-only parameter set to None, on copies where one was set."""
    return _strip(model, {})


def _strip(value: Any, memo: dict[int, Any]) -> Any:
    if id(value) in memo:
        return memo[id(value)]
    memo[id(value)] = value  # a cycle back to this object keeps the original
    if type(value) in (list, tuple):
        items = [_strip(item, memo) for item in value]
        out = value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    elif type(value) is dict:
        items = {key: _strip(item, memo) for key, item in value.items()}
        out = value if all(items[k] is value[k] for k in value) else items
    elif _is_estimator(value):
        out = _strip_estimator(value, memo)
    else:
        out = value
    memo[id(value)] = out
    return out


def _strip_estimator(estimator: Any, memo: dict[int, Any]) -> Any:
    state = {key: _strip(item, memo) for key, item in vars(estimator).items()}
    dropped = {name: _repr(state[name]) for name in getattr(estimator, "__scaleml_training_only__", ())
               if state.get(name) is not None}
    if not dropped and all(state[k] is v for k, v in vars(estimator).items()):
        return estimator
    # A shallow copy without __init__ or __setstate__ (a network is not rebuilt): what is
    # unchanged is shared with the caller's model, which keeps its own parameters.
    copy = object.__new__(type(estimator))
    copy.__dict__.update(state)
    for name in dropped:
        setattr(copy, name, None)
    if dropped:
        setattr(copy, _MARK, {**getattr(estimator, _MARK, {}), **dropped})
    return copy


def saved_without(model: Any) -> dict[str, dict[str, str]]:
    """Estimator class name -> {parameter: repr of what it held} for each copy that
    :func:`without_training_only` stripped, anywhere in ``model``."""
    found: dict[str, dict[str, str]] = {}
    _find(model, found, set())
    return found


def _find(value: Any, found: dict[str, dict[str, str]], seen: set[int]) -> None:
    if id(value) in seen:
        return
    seen.add(id(value))
    if type(value) in (list, tuple):
        children: Any = value
    elif type(value) is dict:
        children = value.values()
    elif _is_estimator(value):
        mark = vars(value).get(_MARK)
        if mark:
            found.setdefault(type(value).__name__, {}).update(mark)
        children = vars(value).values()
    else:
        return
    for child in children:
        _find(child, found, seen)


def _is_estimator(value: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(value, BaseEstimator) and hasattr(value, "__dict__")


def _repr(value: Any) -> str:
    from .nn.callbacks import stable_repr  # no torch: callbacks import it only in their hooks

    return stable_repr(value)
