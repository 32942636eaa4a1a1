"""A griffe extension: docstrings that a class builds at import time, read from the class.

scaleml.nn's estimators and scaleml.search's searches assemble ``__doc__`` from
shared parts (``__doc__ = "..." + _COMMON_DOC``, or a first statement
``"..." + _COMMON_DOC``), which reading the source (griffe's static analysis, used
for everything else) cannot see. The second form is no docstring to Python either
(``CNNClassifier.__doc__`` is None): it is evaluated in its module. Only such
classes' modules are imported; importing them imports no torch or dask.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from typing import Any

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_class_members(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        if isinstance(node, griffe.ObjectNode) or not (_assigns_doc(node) or _builds_doc(node)):
            return
        module = importlib.import_module(cls.module.path)
        if _assigns_doc(node):
            text = getattr(module, cls.name).__doc__
        else:  # not a docstring to Python either (the class's __doc__ is None): evaluate it
            text = eval(compile(ast.Expression(node.body[0].value), cls.module.path, "eval"), vars(module))  # noqa: S307
        if text:
            cls.docstring = griffe.Docstring(inspect.cleandoc(text), parent=cls)
        if "__doc__" in cls.members:
            cls.del_member("__doc__")


def _assigns_doc(node: ast.ClassDef) -> bool:
    return any(isinstance(s, ast.Assign) and any(getattr(t, "id", None) == "__doc__" for t in s.targets)
               for s in node.body)


def _builds_doc(node: ast.ClassDef) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.BinOp)
