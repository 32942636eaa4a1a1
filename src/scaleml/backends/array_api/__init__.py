"""Backends that run scikit-learn's Array API steps on another array library.

``_base.py`` is what they share (placing Array API steps, moving data to the
device); ``torch.py`` and ``cupy.py`` are the ``torch`` and ``cupy`` backends.
"""
