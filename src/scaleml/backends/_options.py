"""Option constraints shared by the backends that reach a Dask cluster (dask, dask-ml, auto).

Kept apart from the backends so that declaring an option imports no backend module.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from .._validation import Interval, Predicate
from ..engines.dask.cluster import address_problem

POSITIVE_INT = Interval(Integral, 1, None)


def _is_byte_size(value: Any) -> bool:
    from dask.utils import parse_bytes

    return isinstance(value, str) and parse_bytes(value) > 0


BYTE_SIZE = Predicate(_is_byte_size, "a size such as '2GiB' or '512MB'")
SECURITY = Predicate(
    lambda v: type(v).__name__ == "Security" or (isinstance(v, dict) and all(isinstance(k, str) for k in v)),
    "a distributed.Security or a dict of its arguments (tls_ca_file, tls_client_cert, tls_client_key, ...)",
)
ADDRESS = Predicate(lambda v: isinstance(v, str) and bool(v.strip()) and address_problem(v) is None,
                    "a scheduler address with a host and a port, such as 'tcp://scheduler:8786'")
CLUSTER_SECTION = Predicate(lambda v: type(v).__name__ == "ClusterSection",
                            "a profile's cluster: section (set by the profile; see scaleml cluster)")
