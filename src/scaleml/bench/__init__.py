"""``scaleml bench``: run one workload on several backends side by side and record it.

- :mod:`.cases`: the workloads (data + estimator + metric).
- :mod:`.runner`: interleaved repeats, timing and peak memory.
- :mod:`.results`: results as data with provenance (JSON/CSV).
- :mod:`.report`: the terminal table (and chart, when matplotlib is installed).
"""
