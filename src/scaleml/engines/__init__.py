"""Engine glue: per engine, the code that talks to it at the data layer's level.

A package per engine (``dask/``: connections, managed clusters, data spread to
workers). Backends use it; the data layer never imports it (an import-linter
contract), so the data layer stays engine-free.
"""
